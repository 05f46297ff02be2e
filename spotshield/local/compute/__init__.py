"""A Compute Engine v1 stand-in: plain backend (models), thin HTTP layer (responses), errors."""
