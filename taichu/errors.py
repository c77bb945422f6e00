"""The one error hierarchy services raise; the API layer renders it per API family."""

from __future__ import annotations


class TaichuError(Exception):
    status: int = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(TaichuError):
    status = 400


class Unauthorized(TaichuError):
    status = 401


class Forbidden(TaichuError):
    status = 403


class NotFound(TaichuError):
    status = 404


class Conflict(TaichuError):
    status = 409


class Invalid(TaichuError):
    """A well-formed value that breaks a rule (bad CIDR, weak password, unknown id)."""

    status = 422


class TooManyRequests(TaichuError):
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(TaichuError):
    """A dependency (cluster, machine, database) cannot be reached."""

    status = 503
