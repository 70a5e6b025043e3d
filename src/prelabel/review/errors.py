"""Errors the portal raises on purpose; the web layer maps each to an HTTP status."""

from __future__ import annotations

from prelabel.errors import PrelabelError


class ReviewInputError(PrelabelError, ValueError):
    """A request or command whose content breaks a rule (HTTP 422). The message names the item and the rule."""


class NotFoundError(PrelabelError, LookupError):
    """No such job, task, user or frame, or not one the caller may see (HTTP 404: existence is not revealed)."""

    def __init__(self, what: str, name: object) -> None:
        super().__init__(f"{what} not found: {name}")
        self.what = what
        self.name = name


class AuthError(PrelabelError):
    """Wrong user name or password, or a missing or expired session (HTTP 401)."""


class PermissionDeniedError(PrelabelError, PermissionError):
    """The caller is signed in but lacks the role, or the CSRF token is missing or wrong (HTTP 403)."""


class NotAnImageError(ReviewInputError):
    """A frame whose bytes are not an image the portal serves (HTTP 415)."""


class TooManyAttemptsError(PrelabelError):
    """Sign-in attempts over the limit for an account or client address (HTTP 429 with Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
