"""The users domain's errors; each knows its status and stable code."""

from __future__ import annotations

from app.core.errors import (
    AppError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)


class UserNotFoundError(NotFoundError):
    code = "user_not_found"
    title = "User not found"


class EmailAlreadyRegisteredError(ConflictError):
    code = "email_already_registered"
    title = "Email already registered"


class InvalidCredentialsError(UnauthorizedError):
    code = "invalid_credentials"
    title = "Incorrect email or password"


class NotAuthenticatedError(UnauthorizedError):
    code = "not_authenticated"
    title = "Not authenticated"


class InvalidTokenError(UnauthorizedError):
    code = "invalid_token"
    title = "Invalid or expired credentials"


class NotSuperuserError(ForbiddenError):
    code = "superuser_required"
    title = "Superuser rights required"


class ServiceCallerHasNoAccountError(ForbiddenError):
    code = "no_user_account"
    title = "The service caller has no user account"


class RegistrationClosedError(ForbiddenError):
    code = "registration_closed"
    title = "Registration is closed"


class WeakPasswordError(AppError):
    status_code = 422
    code = "weak_password"
    title = "Password too weak"


class WrongCurrentPasswordError(AppError):
    status_code = 400
    code = "wrong_current_password"
    title = "The current password is wrong"
