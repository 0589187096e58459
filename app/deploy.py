"""Migrate and serve from an installed wheel, where no repository checkout is around.

In the repository `alembic.ini`, `migrations/` and `gunicorn.conf.py` sit beside `app/`; the
wheel carries copies of them inside the package (`app/_deploy/`, see `pyproject.toml`), so a
`pip install --no-index` on a machine without internet gets everything the service needs to
run. This module finds them in either place:

    service-deploy migrate     # alembic upgrade head, with DATABASE_URL from the settings
    service-deploy serve       # gunicorn -c gunicorn.conf.py (extra arguments pass through)
    service-deploy where       # print the folder holding alembic.ini and gunicorn.conf.py
    service-deploy probe       # exit 0 when http://127.0.0.1:$PORT/health/live answers 200

Settings come from the environment and from `.env` in the working directory, as always.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

PACKAGED = Path(__file__).resolve().with_name("_deploy")
CHECKOUT = Path(__file__).resolve().parents[1]
MIGRATIONS = ("alembic.ini", "migrations/env.py")
SERVING = ("gunicorn.conf.py",)


def deploy_folder(needed: Sequence[str] = MIGRATIONS) -> Path:
    """The folder holding the `needed` deployment files: the wheel's copy first, else the
    checkout this module runs from."""
    for folder in (PACKAGED, CHECKOUT):
        if all((folder / name).is_file() for name in needed):
            return folder
    raise SystemExit(
        f"deployment files not found in {PACKAGED} or {CHECKOUT}: need {', '.join(needed)}"
    )


def migrate(revision: str = "head") -> None:
    """Apply the migrations up to `revision` on the configured database."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(deploy_folder() / "alembic.ini")), revision)


def environment_with_dotenv(path: Path = Path(".env")) -> dict[str, str]:
    """The environment plus `.env`'s values for names it does not set (the environment wins,
    as in Settings), so gunicorn.conf.py sees the same HOST, PORT, WORKERS as the app."""
    from dotenv import dotenv_values

    environment = dict(os.environ)
    if path.is_file():
        for name, value in dotenv_values(path).items():
            if value is not None:
                environment.setdefault(name, value)
    return environment


def serve(arguments: Sequence[str] = ()) -> None:
    """Replace this process with gunicorn, so signals reach its master directly."""
    config = deploy_folder(SERVING) / "gunicorn.conf.py"
    command = [sys.executable, "-m", "gunicorn", "-c", str(config), *arguments]
    os.execve(sys.executable, command, environment_with_dotenv())  # noqa: S606


def probe(path: str = "/health/live", timeout: float = 4.0) -> bool:
    """Ask the local server for `path`: a container health check that needs no curl."""
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="service-deploy", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    migrate_parser = commands.add_parser("migrate", help="alembic upgrade (head by default)")
    migrate_parser.add_argument("revision", nargs="?", default="head")
    commands.add_parser("serve", help="gunicorn -c gunicorn.conf.py [extra gunicorn arguments]")
    commands.add_parser("where", help="print the folder of alembic.ini and gunicorn.conf.py")
    probe_parser = commands.add_parser("probe", help="exit 0 when the local server is live")
    probe_parser.add_argument("path", nargs="?", default="/health/live")
    arguments, rest = parser.parse_known_args(argv)
    if rest and arguments.command != "serve":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if arguments.command == "migrate":
        migrate(arguments.revision)
    elif arguments.command == "serve":
        serve(rest)
    elif arguments.command == "probe":
        raise SystemExit(0 if probe(arguments.path) else 1)
    else:
        sys.stdout.write(f"{deploy_folder((*MIGRATIONS, *SERVING))}\n")


if __name__ == "__main__":
    main()
