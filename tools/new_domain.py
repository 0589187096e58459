"""`python -m tools.new_domain orders [--singular order]`: a new domain copied from `items`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.errors import ToolError
from tools.scaffold.domain import new_domain


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.new_domain",
        description="Copy app/items/, tests/items/ and the items migration under a new name, "
        "and register the copy in app/main.py, app/models.py and the import contracts.",
    )
    parser.add_argument("name", help="lowercase identifier, plural: orders, purchase_orders")
    parser.add_argument("--singular", help="one row's name when <name> minus 's' is wrong")
    parser.add_argument("--root", default=".", help="project root (default: current folder)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        written = new_domain(Path(args.root), args.name, singular=args.singular)
    except ToolError as error:
        sys.stderr.write(f"new-domain: {error}; nothing was written\n")
        return 2
    for path in written:
        sys.stdout.write(f"wrote {path}\n")
    sys.stdout.write("next: make migrate && make test\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
