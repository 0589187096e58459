"""Opaque keyset cursors: the last row's sort key, carried between pages as URL-safe text.

Tampering with one only moves the start of the caller's own page, so it is not signed.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

MAX_CURSOR_LENGTH = 512


class CursorError(ValueError):
    """The cursor was not made by this service."""


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise CursorError("cursor too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError("malformed cursor") from None
    if not isinstance(position, dict):
        raise CursorError("malformed cursor")
    return position
