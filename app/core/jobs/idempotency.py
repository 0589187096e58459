"""`Idempotency-Key` on POST: a retried create gets the first answer again, never a 2nd row.

The key's row is inserted in the request's own transaction, so it exists if and only if the
first request's change committed; its answer (status, body, `Location`) is stored before
the response's last byte goes out (`AnswerRecorder`), and replayed until the key expires. A
retry that arrives while the first request is still running gets 409 and `Retry-After`."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from fastapi import FastAPI, Request, Response
from loguru import logger
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.db import utcnow
from app.core.errors import AppError, ConflictError
from app.core.jobs.models import KEY_MAX_LENGTH, IdempotentAnswer

HEADER = "Idempotency-Key"
HEADER_BYTES = HEADER.lower().encode()
REPLAYED_HEADER = "Idempotent-Replayed"
STATE_KEY = "idempotent_answer_id"
VALID_KEY = re.compile(rf"^[\x21-\x7e]{{1,{KEY_MAX_LENGTH}}}$")
MAX_RECORDED_BODY = 1_048_576


class InvalidIdempotencyKeyError(AppError):
    status_code = 422
    code = "invalid_idempotency_key"
    title = f"Idempotency-Key must be 1 to {KEY_MAX_LENGTH} visible ASCII characters"


class IdempotencyKeyReusedError(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used for a different request"


class IdempotencyKeyInProgressError(ConflictError):
    code = "idempotency_key_in_progress"
    title = "A request with this Idempotency-Key is still being answered"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class Replay(Exception):  # noqa: N818 (not an error: the stored answer, sent again)
    """Raised with plain values: the request's session is rolled back before it is sent."""

    def __init__(self, answer: IdempotentAnswer) -> None:
        self.status_code = answer.status_code or 200
        self.body = answer.body or ""
        self.media_type = answer.media_type
        self.location = answer.location


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


async def claim(
    session: AsyncSession, settings: Settings, request: Request, scope: str, key: str
) -> None:
    """Claim `key` for this request in its transaction, or raise `Replay` with the answer."""
    if not VALID_KEY.match(key):
        raise InvalidIdempotencyKeyError
    printed = fingerprint(request.method, request.url.path, await request.body())
    now = utcnow()
    query = select(IdempotentAnswer).where(
        IdempotentAnswer.scope == scope, IdempotentAnswer.key == key
    )
    found = await session.scalar(query)
    if found is not None and found.expires_at <= now:
        await session.execute(delete(IdempotentAnswer).where(IdempotentAnswer.id == found.id))
        found = None
    if found is None:
        row = IdempotentAnswer(
            scope=scope,
            key=key,
            fingerprint=printed,
            expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS),
        )
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # a twin committed first: answer as it would be answered
            found = await session.scalar(query.execution_options(populate_existing=True))
            if found is None:
                raise
        else:
            setattr(request.state, STATE_KEY, row.id)
            return
    if found.fingerprint != printed:
        raise IdempotencyKeyReusedError
    if found.status_code is None:
        raise IdempotencyKeyInProgressError
    raise Replay(found)


async def _replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Replay)  # noqa: S101 (registered for Replay only)
    headers = {REPLAYED_HEADER: "true"}
    if exc.location:
        headers["Location"] = exc.location
    return Response(exc.body.encode(), exc.status_code, headers, exc.media_type)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Replay, _replay)


class AnswerRecorder:
    """Pure ASGI: for a POST whose key was claimed, store the answer it gets before its last
    byte goes out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keyed = scope["type"] == "http" and scope["method"] == "POST"
        if not keyed or not any(name == HEADER_BYTES for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        body = bytearray()

        async def recording(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                if len(body) <= MAX_RECORDED_BODY:
                    body.extend(message.get("body", b""))
                answer_id = scope.get("state", {}).get(STATE_KEY)
                if not message.get("more_body") and answer_id is not None and status < 400:
                    # Stored before the answer ends: a client that has it can replay it.
                    await _store(scope, answer_id, status, dict(headers), bytes(body))
            await send(message)

        await self.app(scope, receive, recording)


async def _store(
    scope: Scope, answer_id: int, status: int, headers: dict[bytes, bytes], body: bytes
) -> None:
    """Fill in the answer; if this fails, retries get 409 until the key expires, and still
    never a second row."""
    location = headers.get(b"location")
    media_type = headers.get(b"content-type")
    try:
        async with scope["app"].state.session_factory() as session, session.begin():
            await session.execute(
                update(IdempotentAnswer)
                .where(IdempotentAnswer.id == answer_id)
                .values(
                    status_code=status,
                    body=body[:MAX_RECORDED_BODY].decode("utf-8", "replace"),
                    media_type=media_type.decode("latin-1") if media_type else None,
                    location=location.decode("latin-1") if location else None,
                )
            )
    except Exception as error:
        logger.warning("idempotent answer {} not stored: {!r}", answer_id, error)


async def purge_expired(session: AsyncSession) -> int:
    """Delete expired keys; the number deleted."""
    gone = await session.execute(
        delete(IdempotentAnswer).where(IdempotentAnswer.expires_at <= utcnow())
    )
    return int(gone.rowcount)  # type: ignore[attr-defined]
