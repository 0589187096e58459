"""The users domain: accounts, login, roles and the service caller."""
