"""The `loop` dialect (being written)."""
