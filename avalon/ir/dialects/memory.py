"""The `memory` dialect (being written)."""
