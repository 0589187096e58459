"""Mechanisms every domain uses. This package imports no domain."""
