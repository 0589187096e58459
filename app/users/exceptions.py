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


class PermissionDeniedError(ForbiddenError):
    code = "permission_required"
    title = "A permission the caller does not hold is required"


class InvalidRefreshTokenError(UnauthorizedError):
    code = "invalid_refresh_token"
    title = "Invalid, expired or revoked refresh token"


class RefreshTokenReusedError(UnauthorizedError):
    code = "refresh_token_reused"
    title = "The refresh token was used before: its session is revoked"
    keeps_changes = True


class InvalidApiKeyError(UnauthorizedError):
    code = "invalid_api_key"
    title = "Invalid, expired or revoked API key"


class SessionRequiredError(ForbiddenError):
    code = "session_required"
    title = "Sign in with a password for this: an API key cannot manage keys"


class ApiKeyNotFoundError(NotFoundError):
    code = "api_key_not_found"
    title = "API key not found"


class RoleNotFoundError(NotFoundError):
    code = "role_not_found"
    title = "Role not found"


class RoleExistsError(ConflictError):
    code = "role_exists"
    title = "A role with this name exists"


class RoleProtectedError(ConflictError):
    code = "role_protected"
    title = "The admin role cannot be changed or deleted"


class UnknownPermissionError(AppError):
    status_code = 422
    code = "unknown_permission"
    title = "No such permission"


class UnknownRoleError(AppError):
    status_code = 422
    code = "unknown_role"
    title = "No such role"
