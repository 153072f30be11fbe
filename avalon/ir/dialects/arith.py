"""The `arith` dialect (being written)."""
