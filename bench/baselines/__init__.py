"""Bare FastAPI apps the service is measured against: no middleware, no auth, no logging."""
