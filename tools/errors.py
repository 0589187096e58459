"""The one error the tools raise when they refuse."""

from __future__ import annotations


class ToolError(Exception):
    """A one-line reason a tool refuses; nothing has been written."""
