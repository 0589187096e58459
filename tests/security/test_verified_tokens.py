"""Verified access tokens are remembered until their `exp`, and only valid ones, per secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.core import security
from app.core.security import InvalidTokenError, VerifiedTokens, create_access_token

SECRET = "a-secret-of-at-least-thirty-two-bytes!"
OTHER_SECRET = "another-secret-of-at-least-thirty-two!"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def tokens(clock: Clock) -> VerifiedTokens:
    return VerifiedTokens(max_entries=3, clock=clock)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token PyJWT checks (a hit in memory checks none)."""
    seen: list[str] = []
    verify = security._verify_access_token

    def counting(token: str, secret: str) -> tuple[str, int]:
        seen.append(token)
        return verify(token, secret)

    monkeypatch.setattr(security, "_verify_access_token", counting)
    return seen


def token_at(at: datetime, minutes: int = 30, subject: str = "7") -> str:
    return create_access_token(subject, SECRET, minutes, now=at).token


def test_a_verified_token_is_answered_from_memory_until_it_expires(
    tokens: VerifiedTokens, clock: Clock, verifications: list[str]
) -> None:
    token = token_at(datetime.now(UTC), minutes=30)
    clock.now = datetime.now(UTC).timestamp()
    assert tokens.subject(token, SECRET) == "7"
    clock.now += 29 * 60
    assert tokens.subject(token, SECRET) == "7"
    assert verifications == [token]  # checked once

    clock.now = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    # exp == now: expired, as PyJWT has it, so memory no longer answers and PyJWT checks it
    # again (by the real clock, which still accepts it).
    assert tokens.subject(token, SECRET) == "7"
    assert verifications == [token, token]


def test_invalid_tokens_are_never_remembered(
    tokens: VerifiedTokens, verifications: list[str]
) -> None:
    expired = token_at(datetime.now(UTC) - timedelta(hours=2))
    forged = jwt.encode(
        {"sub": "1", "iat": 1, "exp": 4_000_000_000, "type": "access"}, OTHER_SECRET
    )
    refresh = jwt.encode({"sub": "1", "iat": 1, "exp": 4_000_000_000, "type": "refresh"}, SECRET)
    for bad in (expired, forged, refresh, "not.a.token", expired[:-3] + "abc"):
        for _ in range(2):
            with pytest.raises(InvalidTokenError):
                tokens.subject(bad, SECRET)
    assert len(tokens) == 0
    assert len(verifications) == 10  # each refusal checked in full, every time


def test_the_same_token_under_another_secret_is_checked_again(
    tokens: VerifiedTokens, clock: Clock
) -> None:
    token = token_at(datetime.now(UTC))
    clock.now = datetime.now(UTC).timestamp()
    assert tokens.subject(token, SECRET) == "7"
    with pytest.raises(InvalidTokenError):
        tokens.subject(token, OTHER_SECRET)  # a rotated secret no longer accepts it


def test_it_holds_at_most_max_entries_the_oldest_going_first(
    tokens: VerifiedTokens, clock: Clock, verifications: list[str]
) -> None:
    issued = datetime.now(UTC)
    clock.now = issued.timestamp()
    many = [token_at(issued, subject=str(n)) for n in range(5)]
    for token in many:
        tokens.subject(token, SECRET)
    assert len(tokens) == 3
    verifications.clear()
    assert tokens.subject(many[4], SECRET) == "4"
    assert verifications == []  # newest kept
    assert tokens.subject(many[0], SECRET) == "0"
    assert verifications == [many[0]]  # oldest was dropped: checked again


def test_decode_access_token_uses_the_process_memory(verifications: list[str]) -> None:
    token = token_at(datetime.now(UTC), subject="42")
    assert security.decode_access_token(token, SECRET) == "42"
    assert security.decode_access_token(token, SECRET) == "42"
    assert verifications == [token]
