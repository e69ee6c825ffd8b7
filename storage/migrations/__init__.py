"""Alembic migrations of Tandem's schema; applied by ``tandem serve`` and ``tandem db upgrade``."""
