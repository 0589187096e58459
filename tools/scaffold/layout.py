"""Making the renamed copy ruff-clean in memory, before anything is written.

A name longer than `items` lengthens lines. Ruff re-wraps code, not prose or strings, so
comment lines and docstrings longer than the limit are wrapped here, and long string literals
split (strings.py); a line that is still too long makes the scaffolder refuse and say where.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tokenize
from pathlib import Path

from tools.errors import ToolError
from tools.scaffold.strings import split_long_strings

LINE_LENGTH = 100
# The new package is not on disk yet: without this, ruff would sort `app.orders` as third-party.
FIRST_PARTY = ["--config", 'lint.isort.known-first-party = ["app", "tests"]']
STATEMENT_START = {
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}


def _prose_lines(text: str) -> dict[int, str]:
    """Line number (0-based) -> the indent a wrapped part of it continues with: whole-line
    comments and lines of docstrings (statements that are a lone string)."""
    prose: dict[int, str] = {}
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    previous = tokenize.NEWLINE
    for index, token in enumerate(tokens):
        row, column = token.start
        if token.type == tokenize.COMMENT and token.line[:column].strip() == "":
            prose[row - 1] = token.line[:column] + "# "
        following = tokens[index + 1].type if index + 1 < len(tokens) else tokenize.ENDMARKER
        is_statement = previous in STATEMENT_START and following in STATEMENT_START
        if token.type == tokenize.STRING and is_statement:
            for line in range(row - 1, token.end[0]):
                prose[line] = " " * column
        if token.type not in {tokenize.COMMENT, tokenize.NL}:
            previous = token.type
    return prose


def _split(line: str, indent: str) -> list[str]:
    pieces: list[str] = []
    while len(line) > LINE_LENGTH:
        cut = line.rfind(" ", len(indent) + 1, LINE_LENGTH + 1)
        if cut <= len(indent) or not line[:cut].strip(" #"):
            break
        pieces.append(line[:cut].rstrip())
        line = indent + line[cut + 1 :].lstrip()
    return [*pieces, line]


def wrap_prose(text: str) -> str:
    """Comment lines and docstring lines longer than the limit, wrapped at spaces."""
    lines = text.splitlines()
    if all(len(line) <= LINE_LENGTH for line in lines):
        return text
    prose = _prose_lines(text)
    wrapped: list[str] = []
    for number, line in enumerate(lines):
        if len(line) > LINE_LENGTH and number in prose:
            wrapped.extend(_split(line, prose[number]))
        else:
            wrapped.append(line)
    return "\n".join(wrapped) + ("\n" if text.endswith("\n") else "")


def _ruff(root: Path, args: list[str], path: Path, text: str) -> str:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():  # pragma: no cover (ruff is in the dev environment)
        return text
    done = subprocess.run(  # noqa: S603 (our own tool, our own text)
        [str(ruff), *args, "--no-cache", *FIRST_PARTY, "--stdin-filename", str(path), "-"],
        cwd=root,
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ToolError(f"{path}: ruff could not format the copy: {done.stderr.strip()[:200]}")
    return done.stdout


def tidy(root: Path, path: Path, text: str) -> str:
    """Wrapped prose, sorted imports, formatted code: what `make lint` accepts."""
    text = wrap_prose(text)
    text = _ruff(root, ["check", "--select", "I", "--fix", "--exit-zero", "-q"], path, text)
    text = _ruff(root, ["format", "-q"], path, text)
    split = split_long_strings(text, LINE_LENGTH)
    return text if split == text else _ruff(root, ["format", "-q"], path, split)


def check_line_lengths(path: Path, text: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > LINE_LENGTH:
            raise ToolError(
                f"{path}:{number} would be {len(line)} columns long (the limit is "
                f"{LINE_LENGTH}): choose a shorter name, or shorten that line in the example"
            )
