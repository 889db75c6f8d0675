"""Statistics of recorded checks (service.py)."""
