"""The items domain: records owned by users; the example to copy for a new domain."""
