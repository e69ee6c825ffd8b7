"""Repositories: explicit statements over one aggregate each. They never commit."""
