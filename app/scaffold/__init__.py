"""The domain scaffolder: `python -m app.cli new-domain <name>` writes a working domain."""
