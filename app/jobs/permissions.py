"""What callers may do with jobs: see the ones their requests started (every signed-in
user), or operate the queue (a role)."""

from __future__ import annotations

from app.core.permissions import declare

JOBS_READ = declare("jobs:read", "see the jobs your own requests started", held_by_everyone=True)
JOBS_ADMIN = declare("jobs:admin", "see every job, list the dead ones and run them again")
