"""HTTP for signing in and out: the OAuth2 password flow, refresh, logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.core.config import Settings, SettingsDep
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.ratelimit import check_login, check_secret_failures, count_secret_failure
from app.core.security import create_access_token
from app.users import service, sessions
from app.users.dependencies import SignedInUser
from app.users.exceptions import InvalidRefreshTokenError, RefreshTokenReusedError
from app.users.models import User
from app.users.schemas import RefreshRequest, Token

router = APIRouter(prefix="/auth", tags=["auth"])
NO_STORE = {"Cache-Control": "no-store"}  # RFC 6749 section 5.1


def _lifetime(settings: Settings) -> timedelta:
    return timedelta(days=settings.REFRESH_TOKEN_EXPIRE_DAYS)


def _pair(user: User, refresh: sessions.IssuedRefreshToken, settings: Settings) -> Token:
    access = create_access_token(
        str(user.id),
        settings.SECRET_KEY.get_secret_value(),
        settings.ACCESS_TOKEN_EXPIRE_MINUTES,
        generation=user.token_generation,
    )
    return Token(
        access_token=access.token,
        expires_in=access.expires_in,
        refresh_token=refresh.token,
        refresh_expires_in=refresh.expires_in,
    )


@router.post("/token", response_model=Token, responses=problem_responses(401, 429, 503))
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> Token:
    """OAuth2 password flow: `username` is the email. Wrong email or password: the same 401.
    Attempts are limited per client address and per account (`RATE_LIMIT_LOGIN`). Answers a
    short-lived access token and a refresh token that starts a session."""
    response.headers.update(NO_STORE)
    await check_login(request, form.username)
    user = await service.authenticate(session, form.username, form.password)
    return _pair(user, await sessions.start(session, user, _lifetime(settings)), settings)


@router.post("/refresh", response_model=Token, responses=problem_responses(401, 422, 429))
async def refresh(
    body: RefreshRequest,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> Token:
    """The next access and refresh tokens for a refresh token, which is used up. A used one
    presented again revokes its whole session (`refresh_token_reused`). Wrong tokens are
    limited per client address like logins."""
    response.headers.update(NO_STORE)
    await check_secret_failures(request, "refresh")
    try:
        user, issued = await sessions.rotate(session, body.refresh_token, _lifetime(settings))
    except (InvalidRefreshTokenError, RefreshTokenReusedError):
        await count_secret_failure(request, "refresh")
        raise
    return _pair(user, issued, settings)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(422))
async def logout(body: RefreshRequest, session: SessionDep) -> Response:
    """End the session this refresh token belongs to (its access tokens expire by
    themselves, within `ACCESS_TOKEN_EXPIRE_MINUTES`). Unknown tokens end nothing, quietly."""
    await sessions.end(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/logout-everywhere",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403),
)
async def logout_everywhere(user: SignedInUser, session: SessionDep) -> Response:
    """End every session of yours and refuse every access token issued so far, at once."""
    await sessions.end_all(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
