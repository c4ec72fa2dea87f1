"""Errors REST handlers raise; the middleware in engine.rest renders them as JSON."""


class ApiError(Exception):
    status = 500

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BadRequest(ApiError):
    status = 400


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class ServiceUnavailable(ApiError):
    status = 503
