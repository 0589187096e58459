"""The domain scaffolder: a new domain is a renamed copy of the living example, `items`."""
