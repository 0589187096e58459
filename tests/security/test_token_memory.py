"""Verified access tokens are remembered, but never past their `exp`, and failures never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.core import security
from app.core.security import InvalidTokenError, create_access_token, decode_access_token

SECRET = "token-memory-secret-" + "x" * 32


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    issued = datetime.now(UTC)
    token = create_access_token("7", SECRET, minutes=1, now=issued).token
    assert decode_access_token(token, SECRET).subject == "7"
    later = (issued + timedelta(minutes=1)).timestamp()
    monkeypatch.setattr(security.time, "time", lambda: later)
    with pytest.raises(InvalidTokenError, match="expired"):
        decode_access_token(token, SECRET)


def test_a_refused_token_is_checked_again_each_time() -> None:
    forged = jwt.encode(
        {"sub": "1", "exp": 4102444800, "iat": 0}, "another-secret-" + "y" * 32, algorithm="HS256"
    )
    before = security._verified_claims.cache_info().currsize
    for _ in range(3):
        with pytest.raises(InvalidTokenError):
            decode_access_token(forged, SECRET)
    assert security._verified_claims.cache_info().currsize == before


def test_the_same_token_under_another_secret_is_verified_anew() -> None:
    token = create_access_token("9", SECRET, minutes=5).token
    assert decode_access_token(token, SECRET).subject == "9"
    with pytest.raises(InvalidTokenError):
        decode_access_token(token, SECRET + "-rotated")
