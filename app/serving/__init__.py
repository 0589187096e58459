"""Production serving: gunicorn's options and hooks, the draining worker, the saved-log relay.

The process manager's side of the service; domains never import it.
"""
