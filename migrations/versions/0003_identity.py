"""Identity: a token generation per account, so revoking its tokens takes effect at once.

On SQLite the users table is rebuilt with AUTOINCREMENT, so the id of a deleted account is
never handed out again (a token naming it could otherwise reach the new account).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 16:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _users_batch(autoincrement: bool) -> object:
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    return op.batch_alter_table(
        "users",
        recreate="always" if is_sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    )


def upgrade() -> None:
    with _users_batch(autoincrement=True) as batch_op:  # type: ignore[attr-defined]
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with _users_batch(autoincrement=False) as batch_op:  # type: ignore[attr-defined]
        batch_op.drop_column("token_generation")
