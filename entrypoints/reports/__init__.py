"""Compliance-report exports shared by the HTTP API and the CLI: CSV and PDF renderers."""
