"""FastAPI Service Template: a domain-sliced modular monolith."""
