"""Splitting a string literal that a longer name pushed past the line limit.

Inside brackets, `"a b"` may be written `"a " "b"` on two lines: ruff lays that out, but never
splits a literal itself. An f-string is split only outside its `{...}` fields.
"""

from __future__ import annotations

import io
import re
import tokenize

LITERAL = re.compile(r"^(?P<prefix>[rRbBuUfF]{0,2})(?P<quote>[\"'])(?P<body>.*)(?P=quote)$", re.S)
OPENING, CLOSING = "([{", ")]}"


def _cuts(body: str, is_f: bool) -> list[int]:
    """Positions just after a space outside any `{...}` field, or just before a field."""
    depth, cuts, index = 0, [], 0
    while index < len(body):
        pair = body[index : index + 2]
        if is_f and pair in {"{{", "}}"}:
            index += 2
            continue
        char = body[index]
        if is_f and char == "{" and depth == 0:
            cuts.append(index)
        depth += is_f and char == "{"
        depth -= is_f and char == "}"
        if char == " " and depth == 0:
            cuts.append(index + 1)
        index += 1
    return cuts


def _piece(prefix: str, quote: str, body: str) -> str:
    if "f" in prefix.lower() and "{" not in body.replace("{{", ""):
        prefix = prefix.replace("f", "").replace("F", "")
        body = body.replace("{{", "{").replace("}}", "}")
    return f"{prefix}{quote}{body}{quote}"


def _split_literal(token: str, room: int, indent: str) -> str | None:
    match = LITERAL.match(token)
    if match is None or match["body"].startswith(match["quote"] * 2):
        return None
    prefix, quote, body = match["prefix"], match["quote"], match["body"]
    fitting = [c for c in _cuts(body, "f" in prefix.lower()) if 0 < c < len(body) and c < room]
    if not fitting:
        return None
    cut = fitting[-1]
    return f"{_piece(prefix, quote, body[:cut])}\n{indent}{_piece(prefix, quote, body[cut:])}"


def split_long_strings(text: str, limit: int) -> str:
    """One split per over-long line, in the first string literal inside brackets there."""
    lines = text.splitlines(keepends=True)
    depth = 0
    edits: dict[int, tuple[int, int, str]] = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.OP and token.string in OPENING:
            depth += 1
        elif token.type == tokenize.OP and token.string in CLOSING:
            depth -= 1
        row, column = token.start
        if token.type != tokenize.STRING or not depth or row in edits or token.end[0] != row:
            continue
        if len(lines[row - 1].rstrip("\n")) > limit:
            split = _split_literal(token.string, limit - column - 1, " " * column)
            if split is not None:
                edits[row] = (column, token.end[1], split)
    for row, (start, end, split) in edits.items():
        line = lines[row - 1]
        lines[row - 1] = line[:start] + split + line[end:]
    return "".join(lines)
