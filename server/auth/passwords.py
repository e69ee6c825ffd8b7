"""Argon2id password hashing (contract §3), with argon2-cffi's recommended parameters."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile.


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so an unknown email costs the same time as
    a wrong password and response timing does not reveal which accounts exist. Made at the
    first such sign-in, not at import: hashing takes about 0.1 s of every start otherwise."""
    return _hasher.hash("tandem-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash, spend the same effort and say False."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
