"""FastAPI service template: a domain-sliced modular monolith."""
