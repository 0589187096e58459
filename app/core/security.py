"""Password hashing, access tokens, the service token; no user model (that is the users domain)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from starlette.concurrency import run_in_threadpool

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"  # noqa: S105
MAX_GENERATION = 2**31 - 1  # the column is a PostgreSQL integer

# argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): tens of ms per hash.
# Changing these rehashes each stored password at its owner's next login.
ARGON2_MEMORY_KIB = 19_456
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1


@lru_cache
def _password_hash() -> PasswordHash:
    argon2 = Argon2Hasher(
        time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
    )
    return PasswordHash((argon2,))


@lru_cache
def _dummy_hash() -> str:
    """Verified when the account does not exist: a wrong email costs what a wrong password does."""
    return _password_hash().hash(secrets.token_urlsafe(16))


# Each hash holds ARGON2_MEMORY_KIB: a few at a time bound a worker's memory in a login burst.
MAX_CONCURRENT_HASHES = 2
_hash_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)


def _hash(password: str) -> str:
    with _hash_slots:
        return _password_hash().hash(password)


def _verify(password: str, hashed: str) -> tuple[bool, str | None]:
    with _hash_slots:
        return _password_hash().verify_and_update(password, hashed)


async def hash_password(password: str) -> str:
    """Hash off the event loop: argon2 would block it for tens of milliseconds."""
    return await run_in_threadpool(_hash, password)


async def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one uses outdated parameters).

    With `hashed=None` (no such account) a dummy hash is verified, so timing does not tell.
    """
    target = hashed if hashed is not None else _dummy_hash()
    matches, updated = await run_in_threadpool(_verify, password, target)
    return (matches, updated) if hashed is not None else (False, None)


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    expires_in: int


class InvalidTokenError(Exception):
    """The token is malformed, forged, expired or not an access token."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says: whose it is, and the account's token generation when
    it was issued (a token of an older generation was revoked)."""

    subject: str
    generation: int


def create_access_token(
    subject: str,
    secret: str,
    minutes: int,
    now: datetime | None = None,
    *,
    generation: int = 0,
) -> AccessToken:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": subject,
        "gen": generation,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(minutes=minutes)).timestamp()),
        "type": ACCESS_TOKEN_TYPE,
    }
    return AccessToken(jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), minutes * 60)


def decode_access_token(token: str, secret: str) -> AccessClaims:
    """The token's claims; only HS256 is accepted (never `alg: none`), `exp` is required."""
    try:
        claims, expires_at = _verified_claims(token, secret)
    except jwt.PyJWTError as error:
        raise InvalidTokenError(str(error)) from None
    if time.time() >= expires_at:  # PyJWT's rule, for a token verified earlier
        raise InvalidTokenError("Signature has expired")
    return claims


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str) -> tuple[AccessClaims, float]:
    """(claims, exp) of a valid access token, remembered (an error is not): verifying costs
    ~8% of an authenticated item read (bench/RESULTS.md)."""
    claims = jwt.decode(
        token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "iat", "sub"]}
    )
    subject, generation = claims["sub"], claims.get("gen")
    if claims.get("type") != ACCESS_TOKEN_TYPE or not isinstance(subject, str):
        raise jwt.InvalidTokenError("not an access token")
    if type(generation) is not int or not 0 <= generation <= MAX_GENERATION:
        raise jwt.InvalidTokenError("no token generation")
    return AccessClaims(subject, generation), float(claims["exp"])


def new_secret(prefix: str = "") -> str:
    """An opaque credential of 256 random bits (a refresh token, an API key)."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a credential: its SHA-256. Random 256-bit secrets need no slow hash;
    a lookup by digest finds the row without comparing secrets one by one."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_valid_service_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison; an unset expected token never matches."""
    if not expected or presented is None:
        return False
    return secrets.compare_digest(presented.encode(), expected.encode())
