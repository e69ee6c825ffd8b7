"""Benchmarks: one script per scenario, each printing its figures (``make bench`` runs all)."""
