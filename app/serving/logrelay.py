"""One writer for the saved log files under gunicorn: workers send their lines to the master.

Every worker rotating the same dated file loses or duplicates lines (loguru #1111, #1145);
loguru's `enqueue=True` across a fork shares one lock, and a worker SIGKILLed while holding it
freezes every other worker's logging. A Unix datagram socket has neither problem: a line
travels as whole datagrams (long ones in numbered parts), so lines never interleave and a
killed worker loses only what it had not sent. A reader thread in the master writes each line
through the one file sink, which alone rotates, compresses and prunes.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

from app.core import logging as service_logging

_HEADER = struct.Struct("!IB")  # sender pid, "more parts follow" flag
_CHUNK = 32 * 1024  # well inside the default Unix datagram buffer
_STOP = b"stop"  # shorter than a header, so no sender can produce it
_BUFFER_BYTES = 4 * 1024 * 1024


class LogSender:
    """The worker side: a loguru sink that sends each formatted line to the master."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, message: str) -> None:
        data = message.encode("utf-8")
        pid = os.getpid()
        chunks = [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [b""]
        try:
            for index, chunk in enumerate(chunks):
                more = 1 if index < len(chunks) - 1 else 0
                self._sock.send(_HEADER.pack(pid, more) + chunk)
        except OSError:
            # The master is gone (it is shutting down, or was killed): stderr is all we have.
            os.write(2, data)


class LogRelay:
    """The master side: owns the socket pair and the thread that receives relayed lines."""

    def __init__(self) -> None:
        self._receiver, self._sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock, option in ((self._receiver, socket.SO_RCVBUF), (self._sender, socket.SO_SNDBUF)):
            sock.setsockopt(socket.SOL_SOCKET, option, _BUFFER_BYTES)
        self._owner_pid = os.getpid()
        self._reader = threading.Thread(target=self._read, name="log-relay-reader", daemon=True)
        self._reader.start()

    def sender(self) -> LogSender:
        return LogSender(self._sender)

    def after_fork_in_child(self) -> None:
        """In a new worker: drop the master's end and send file lines here instead."""
        self._receiver.close()
        service_logging.use_relay(self.sender().write)

    def _read(self) -> None:
        parts: dict[int, list[bytes]] = {}
        while True:
            data = self._receiver.recv(_HEADER.size + _CHUNK)
            if data == _STOP:
                return
            self._take(data, parts)

    def _take(self, data: bytes, parts: dict[int, list[bytes]]) -> None:
        pid, more = _HEADER.unpack_from(data)
        body = data[_HEADER.size :]
        if more:
            parts.setdefault(pid, []).append(body)
            return
        earlier = parts.pop(pid, None)
        whole = b"".join([*earlier, body]) if earlier else body
        service_logging.write_relayed_line(whole.decode("utf-8", errors="replace"))

    def stop(self, timeout: float = 10.0) -> None:
        """Write everything sent so far, then stop (the master calls this after its workers
        have exited, so every worker's last line is already in the socket)."""
        if os.getpid() != self._owner_pid:
            return
        self._sender.send(_STOP)
        self._reader.join(timeout)
        self._receiver.close()
        self._sender.close()


_relay: LogRelay | None = None


def start() -> LogRelay:
    """Start the relay in the gunicorn master, once (a SIGHUP reload keeps it)."""
    global _relay  # noqa: PLW0603
    if _relay is None:
        _relay = LogRelay()
        relay = _relay
        os.register_at_fork(after_in_child=lambda: _in_child(relay))
    return _relay


def _in_child(relay: LogRelay) -> None:
    global _relay  # noqa: PLW0603
    if _relay is relay:
        _relay = None
        relay.after_fork_in_child()


def stop() -> None:
    global _relay  # noqa: PLW0603
    if _relay is not None:
        _relay.stop()
        _relay = None
