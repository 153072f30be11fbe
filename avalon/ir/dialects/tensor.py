"""The `tensor` dialect (being written)."""
