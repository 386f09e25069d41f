"""Use cases: one per operation, each deciding authorization itself and returning plain data."""
