"""Transports (HTTP, CLI) and the composition root that wires adapters to ports."""
