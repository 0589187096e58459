"""Command line: `python -m app.cli <command>` (also installed as a console script)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from loguru import logger

from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_session_factory
from app.core.logging import setup_logging
from app.users import service as users


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


def _new_domain(args: argparse.Namespace) -> int:
    from app.scaffold.domain import new_domain
    from app.scaffold.render import ScaffoldError

    try:
        written = new_domain(
            Path(args.root), args.name, singular=args.singular, migration=not args.no_migration
        )
    except ScaffoldError as error:
        sys.stderr.write(f"new-domain: {error}; nothing was written\n")
        return 2
    root = Path(args.root).resolve()
    for path in written:
        sys.stdout.write(f"wrote {path.relative_to(root)}\n")
    sys.stdout.write(f"next: make migrate && make test  (then see /docs: {args.name})\n")
    return 0


def _rename(args: argparse.Namespace) -> int:
    from app.scaffold.rename import rename
    from app.scaffold.render import ScaffoldError

    if not (args.name or args.code or args.package):
        sys.stderr.write("rename: give --name, --code and/or --package\n")
        return 2
    try:
        changed = rename(Path(args.root), name=args.name, code=args.code, package=args.package)
    except ScaffoldError as error:
        sys.stderr.write(f"rename: {error}; nothing was written\n")
        return 2
    for path in changed:
        sys.stdout.write(f"changed {path}\n")
    if any(path.name == "pyproject.toml" for path in changed):
        sys.stdout.write("next: make install  (installs the project under its new name)\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-superuser", help="create the first superuser (idempotent)")
    domain = commands.add_parser(
        "new-domain",
        help="scaffold app/<name>/, tests/<name>/ and its migration, and register it",
    )
    domain.add_argument("name", help="lowercase identifier, plural: orders, purchase_orders")
    domain.add_argument("--singular", help="one row's name when <name> minus 's' is wrong")
    domain.add_argument("--root", default=".", help="project root (default: current folder)")
    domain.add_argument(
        "--no-migration", action="store_true", help="skip `alembic revision --autogenerate`"
    )
    rename = commands.add_parser(
        "rename", help="rename the service: its name, code and package, in one go"
    )
    rename.add_argument("--name", help='human name, e.g. "Orders Service" (SERVICE_NAME)')
    rename.add_argument("--code", help="short code, e.g. ord (SERVICE_CODE: error URIs, logs)")
    rename.add_argument("--package", help="distribution name, e.g. orders-service (pyproject)")
    rename.add_argument("--root", default=".", help="project root (default: current folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "new-domain":
        return _new_domain(args)
    if args.command == "rename":
        return _rename(args)
    settings = get_settings()
    setup_logging(settings)
    asyncio.run(create_superuser(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
