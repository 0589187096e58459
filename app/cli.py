"""Command line: `python -m app.cli <command>` (also installed as a console script)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from loguru import logger

from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_session_factory
from app.core.logging import setup_logging
from app.users import service as users
from app.users import sessions


async def create_superuser(settings: Settings) -> bool:
    """Create FIRST_SUPERUSER_EMAIL once; True when it was created now."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            user, created = await users.ensure_superuser(
                session,
                settings.FIRST_SUPERUSER_EMAIL,
                settings.FIRST_SUPERUSER_PASSWORD.get_secret_value(),
                min_password_length=settings.PASSWORD_MIN_LENGTH,
            )
    finally:
        await engine.dispose()
    logger.info("superuser {} {}", user.email, "created" if created else "already exists")
    return created


async def purge_tokens(settings: Settings) -> int:
    """Delete the expired refresh tokens; how many went (run it daily, e.g. from cron)."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            purged = await sessions.purge_expired(session)
    finally:
        await engine.dispose()
    logger.info("purged {} expired refresh tokens", purged)
    return purged


COMMANDS = {"create-superuser": create_superuser, "purge-tokens": purge_tokens}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-superuser", help="create the first superuser (idempotent)")
    commands.add_parser("purge-tokens", help="delete the expired refresh tokens")
    return parser


def main(argv: list[str] | None = None) -> int:
    command = _parser().parse_args(argv).command
    settings = get_settings()
    setup_logging(settings)
    asyncio.run(COMMANDS[command](settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
