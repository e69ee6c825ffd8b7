"""Accounts and authentication: password hashing, JWTs, refresh-token families, role guards."""
