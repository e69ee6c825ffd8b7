"""Tandem's storage: tables, the engine, repositories and migrations.

Nothing here imports :mod:`server` or :mod:`realtime`; they build on it.
"""
