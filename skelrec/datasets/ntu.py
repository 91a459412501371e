"""Reader: see module docstring once implemented."""
