"""debugpy stand-in: `python -m debugpy --listen HOST:PORT -m MODULE ...` listens on the
debug port (so the published port is real) and runs MODULE like debugpy does."""
