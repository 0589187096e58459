"""The items domain's errors."""

from __future__ import annotations

from app.core.errors import AppError, ForbiddenError, NotFoundError, PreconditionFailedError


class ItemNotFoundError(NotFoundError):
    code = "item_not_found"
    title = "Item not found"


class ItemVersionConflictError(PreconditionFailedError):
    code = "item_version_conflict"
    title = "The item was changed by someone else"


class InvalidCursorError(AppError):
    status_code = 422
    code = "invalid_cursor"
    title = "Invalid pagination cursor"


class OwnerNotAllowedError(ForbiddenError):
    code = "owner_not_allowed"
    title = "Creating items for someone else needs write_all"


class OwnerRequiredError(AppError):
    status_code = 422
    code = "owner_required"
    title = "The service caller must name the item's owner"


class OwnerNotFoundError(AppError):
    status_code = 422
    code = "owner_not_found"
    title = "The named owner does not exist"
