"""Background jobs that exist if and only if the request that asked for them committed.

A job is a row written in the request's own transaction (the outbox); a relay in the
worker hands committed rows to the queue library (taskiq); the row stays the truth about
the job: its status, attempts, result, and its lease while it runs. docs/jobs.md explains.
"""
