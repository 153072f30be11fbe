"""The `func` dialect (being written)."""
