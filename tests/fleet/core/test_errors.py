"""fleet/core/errors.py: one table, HTTP status and CoAP code per domain error."""

from __future__ import annotations

import pytest
from aiocoap.numbers.codes import Code

from fleet.core.errors import BadInput, Conflict, FleetError, NotFound, Unavailable, UnsupportedFormat, lookup


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (BadInput("x"), (400, Code.BAD_REQUEST)),
        (UnsupportedFormat("x"), (415, Code.UNSUPPORTED_CONTENT_FORMAT)),
        (NotFound("x"), (404, Code.NOT_FOUND)),
        (Conflict("already registered"), (409, Code.CONFLICT)),
        (Unavailable("x"), (503, Code.SERVICE_UNAVAILABLE)),
        (FleetError("x"), (500, Code.INTERNAL_SERVER_ERROR)),
    ],
)
def test_lookup__valid(error: FleetError, expected: tuple[int, Code]) -> None:
    assert lookup(error) == expected


def test_lookup__subclass_inherits_row() -> None:
    class UidMismatch(Conflict):
        pass

    assert lookup(UidMismatch("x")) == (409, Code.CONFLICT)
