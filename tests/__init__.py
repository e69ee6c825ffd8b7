"""Tandem's test suite; it mirrors the packages and runs on SQLite or PostgreSQL + Redis."""
