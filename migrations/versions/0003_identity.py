"""Identity: token generations, roles, refresh tokens and API keys; is_superuser retired.

Every account gets a token generation, so revoking its tokens takes effect at once. The
`is_superuser` flag becomes the built-in `admin` role (permission `*`): every superuser holds
it, and the column is dropped (the downgrade gives it back to the role's holders). On SQLite
the users table is rebuilt with AUTOINCREMENT, so a deleted account's id is never handed out
again (a token naming it could otherwise reach the new account).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 16:10:00.000000+00:00
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from alembic import op

import app.core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADMIN_ROLE = "admin"
TIMESTAMPS = ("created_at", "updated_at")


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column(
            name,
            app.core.db.UTCDateTime(),
            server_default=sa.func.current_timestamp(),
            nullable=False,
        )
        for name in TIMESTAMPS
    ]


def _users_batch(autoincrement: bool) -> AbstractContextManager[Any]:
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    return op.batch_alter_table(
        "users",
        recreate="always" if is_sqlite else "auto",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    )


def upgrade() -> None:
    roles = op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("name", name=op.f("uq_roles_name")),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_user_roles_role_id_roles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_user_roles")),
    )
    op.create_index("ix_user_roles_role", "user_roles", ["role_id"], unique=False)
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", app.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family"], unique=False)
    op.create_index("ix_refresh_tokens_user", "refresh_tokens", ["user_id"], unique=False)
    op.create_index("ix_refresh_tokens_expires", "refresh_tokens", ["expires_at"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", app.core.db.UTCDateTime(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index("ix_api_keys_user", "api_keys", ["user_id"], unique=False)

    op.bulk_insert(
        roles,
        [{"name": ADMIN_ROLE, "description": "Every permission", "permissions": "*"}],
    )
    op.execute(
        sa.text(
            "INSERT INTO user_roles (user_id, role_id) SELECT users.id, roles.id "
            "FROM users, roles WHERE users.is_superuser AND roles.name = :admin"
        ).bindparams(admin=ADMIN_ROLE)
    )
    with _users_batch(autoincrement=True) as batch_op:
        batch_op.add_column(
            sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.drop_column("is_superuser")


def downgrade() -> None:
    with _users_batch(autoincrement=False) as batch_op:
        batch_op.add_column(
            sa.Column("is_superuser", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.drop_column("token_generation")
    op.execute(
        sa.text(
            "UPDATE users SET is_superuser = true WHERE id IN (SELECT user_roles.user_id "
            "FROM user_roles JOIN roles ON roles.id = user_roles.role_id WHERE roles.name = :admin)"
        ).bindparams(admin=ADMIN_ROLE)
    )
    op.drop_index("ix_api_keys_user", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_refresh_tokens_expires", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_user", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_family", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_user_roles_role", table_name="user_roles")
    op.drop_table("user_roles")
    op.drop_table("roles")
