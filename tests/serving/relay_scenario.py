"""Run by test_logrelay.py in a fresh interpreter: a master that owns the log files, and
forked writers logging at once (one of them SIGKILLed mid-way), while the master
reconfigures its logging as a SIGHUP does. Usage: folder processes lines rotation."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from loguru import logger

from app.core.config import Settings
from app.core.logging import setup_logging
from app.serving import logrelay

BIG_EVERY = 25
BIG_SIZE = 100_000  # several datagram parts


def message(process: int, number: int) -> str:
    size = BIG_SIZE if number % BIG_EVERY == 0 else 40 + number % 200
    return f"{process}:{number}:" + "x" * size


def write_lines(process: int, lines: int) -> None:
    for number in range(lines):
        logger.bind(kind="line", proc=process, n=number).info(message(process, number))


def main() -> None:
    folder, processes, lines, rotation = Path(sys.argv[1]), *map(int, sys.argv[2:4]), sys.argv[4]
    settings = Settings(
        _env_file=None,
        SAVE=True,
        JSON_LOG=True,
        LOG_SAVE_PATH=folder,
        ROTATION=rotation,
        COMPRESSION="gz",
    )
    devnull = open(os.devnull, "w")  # noqa: SIM115
    logrelay.start()
    setup_logging(settings, stream=devnull)
    children = []
    for process in range(processes):
        pid = os.fork()
        if pid == 0:
            write_lines(process, lines)
            os._exit(0)
        children.append(pid)
    victim = os.fork()
    if victim == 0:
        write_lines(processes, 10**9)  # until killed
        os._exit(0)
    for _ in range(5):  # the master reconfigures while lines arrive (SIGHUP)
        time.sleep(0.05)
        setup_logging(settings, stream=devnull)
    os.kill(victim, signal.SIGKILL)
    for pid in [*children, victim]:
        os.waitpid(pid, 0)
    logrelay.stop()
    logger.remove()


if __name__ == "__main__":
    main()
