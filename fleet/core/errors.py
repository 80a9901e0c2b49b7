"""The one error table: each domain error maps once to an HTTP status and a CoAP code.

Store functions, CoAP resources and HTTP routes raise these; the API's exception handler and the
CoAP site's error wrapper translate them with `ERROR_TABLE`, so "already registered" is 409 over
HTTP and 4.09 over CoAP everywhere, and no route invents its own status for the same case."""

from __future__ import annotations

from typing import Any

from aiocoap.numbers.codes import Code


class FleetError(Exception):
    """Base of the fleet's domain errors. `reason` is a short stable slug (counted, logged);
    the message says what was wrong, with which input, and what to do."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.detail = detail


class BadInput(FleetError):
    """The request is malformed or breaks a rule (wrong type, missing field, out of range)."""

    reason = "bad_input"


class UnsupportedFormat(FleetError):
    """The payload's content format is not the one the resource takes."""

    reason = "unsupported_format"


class NotFound(FleetError):
    """The record named does not exist."""

    reason = "not_found"


class Conflict(FleetError):
    """The request clashes with what is stored: already exists, or a state that forbids it."""

    reason = "conflict"


class Unavailable(FleetError):
    """A dependency (the database, a device) cannot answer now; try again later."""

    reason = "unavailable"


# error class -> (HTTP status, CoAP response code). Subclasses inherit their base's row.
ERROR_TABLE: dict[type[FleetError], tuple[int, Code]] = {
    BadInput: (400, Code.BAD_REQUEST),
    UnsupportedFormat: (415, Code.UNSUPPORTED_CONTENT_FORMAT),
    NotFound: (404, Code.NOT_FOUND),
    Conflict: (409, Code.CONFLICT),
    Unavailable: (503, Code.SERVICE_UNAVAILABLE),
    FleetError: (500, Code.INTERNAL_SERVER_ERROR),
}


def lookup(error: FleetError) -> tuple[int, Code]:
    """The (HTTP status, CoAP code) for an error, walking up its class hierarchy."""
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]  # type: ignore[index]
    return ERROR_TABLE[FleetError]


def http_status(error: FleetError) -> int:
    return lookup(error)[0]


def coap_code(error: FleetError) -> Code:
    return lookup(error)[1]
