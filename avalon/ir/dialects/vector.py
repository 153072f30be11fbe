"""The `vector` dialect (being written)."""
