"""Writing a plan to disk so that a failure anywhere puts every file back as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.errors import ToolError


def write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


class Undo:
    """Remembers what a run changed so a failure can put everything back."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.folders: list[Path] = []
        self.originals: dict[Path, str] = {}

    def make_folder(self, folder: Path) -> None:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        for path in reversed(missing):
            path.mkdir()
            self.folders.append(path)

    def create(self, path: Path, text: str) -> None:
        if path.exists():
            raise ToolError(f"{path} appeared while scaffolding")
        self.make_folder(path.parent)
        self.files.append(path)
        write(path, text)

    def replace(self, path: Path, text: str) -> None:
        self.originals[path] = path.read_text(encoding="utf-8")
        write(path, text)

    def rollback(self) -> None:
        for path, text in self.originals.items():
            write(path, text)
        for path in reversed(self.files):
            path.unlink(missing_ok=True)
        for folder in reversed(self.folders):
            shutil.rmtree(folder, ignore_errors=True)
