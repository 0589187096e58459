"""`python -m app.worker [module ...]`: the job worker, with every domain's `tasks.py` loaded
(modules named on the command line are imported too: their `@task`s join in)."""

from __future__ import annotations

import importlib
import sys

from app.core.config import get_settings
from app.core.jobs import registry, worker
from app.core.logging import setup_logging


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    setup_logging(settings)
    registry.discover("app")
    for name in argv if argv is not None else sys.argv[1:]:
        importlib.import_module(name)
    worker.run(settings)


if __name__ == "__main__":
    main()
