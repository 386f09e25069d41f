"""In-memory twins of every repository and of the unit of work (tests, `--storage memory`)."""
