"""The conversation kinds the generator writes, one module per kind, and what they share."""
