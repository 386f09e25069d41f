"""Implementations of the domain's ports: SQL and in-memory twins, and the small services."""
