"""Every domain's models in one import, so Alembic's autogenerate sees every table.

Add a line here when you add a domain (the domain scaffolder does it for you).
"""

from app.core.db import Base
from app.core.jobs.models import IdempotentAnswer, Job
from app.items.models import Item
from app.users.models import ApiKey, RefreshToken, Role, User, UserRole

__all__ = [
    "ApiKey",
    "Base",
    "IdempotentAnswer",
    "Item",
    "Job",
    "RefreshToken",
    "Role",
    "User",
    "UserRole",
]
