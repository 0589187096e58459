"""Saved logs under several processes: one writer, no line lost, split or interleaved, also
across rotation with compression, a reconfiguration and a SIGKILLed writer."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tests.serving.relay_scenario import message

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
LINES = 300


def saved_lines(folder: Path) -> list[str]:
    lines: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            text = gzip.decompress(data) if path.suffix == ".gz" else data
            lines.extend(text.decode("utf-8").splitlines())
    return lines


def test_every_line_of_every_process_arrives_whole_through_rotation(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.serving.relay_scenario",
            str(folder),
            str(PROCESSES),
            str(LINES),
            "200 KB",
        ],
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    records = [json.loads(line) for line in saved_lines(folder)]  # every line parses
    written = [r for r in records if r.get("kind") == "line"]
    finished = [r for r in written if r["proc"] < PROCESSES]
    keys = [(r["proc"], r["n"]) for r in finished]
    assert len(keys) == len(set(keys)) == PROCESSES * LINES
    for record in written:  # the killed writer's lines too: whole or absent
        assert record["message"] == message(record["proc"], record["n"])
    killed = sorted(r["n"] for r in written if r["proc"] == PROCESSES)
    assert killed == list(range(len(killed)))  # a prefix: nothing after a gap
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert sum(p.suffix == ".gz" for p in files) >= 2, files  # rotated and compressed
    assert sum(p.suffix == ".log" for p in files) == 1  # one current file: one writer
