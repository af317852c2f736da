"""Small shared utilities: rank-0 logging, error reporting."""
