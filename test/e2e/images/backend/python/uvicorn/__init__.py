"""uvicorn stand-in: `python -m uvicorn app --host ... --port ...` serves the backend stand-in."""
