"""Rules for text every domain stores."""

# PostgreSQL text cannot hold NUL while SQLite can: refuse it everywhere, so both databases
# answer a NUL byte with the same 422 instead of one storing it and the other failing.
NO_NUL = r"^[^\x00]*$"
