"""The `aqualab` command line."""
