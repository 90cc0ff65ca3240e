"""The live worker's parts: the state and command files (so far)."""
