"""Small shared helpers (logging setup, timing)."""
