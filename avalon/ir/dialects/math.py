"""The `math` dialect (being written)."""
