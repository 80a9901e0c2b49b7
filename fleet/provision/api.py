"""/api/v1/provision: the fleet's side of enrolment, for `gasguard provision`.

    POST /provision/tokens                        issue an installer's enrolment token (201)
    POST /provision/tokens/{id}/revoke            revoke one
    POST /provision/devices/{device_id}/key       the device's OSCORE key (201 new, 200 existing)
    POST /provision/devices/{device_id}/acceptance  record an acceptance test (201)
    GET  /provision/devices/{device_id}/acceptance  the device's acceptance tests
    GET  /provision/devices/{device_id}/status    registered yet? event kinds after a sequence number

Device routes need `Authorization: Bearer <enrolment token>`; a bad token is 401 with the
reason. Who may call what is declared in fleet/security/policy.py: operators issue and revoke
tokens; the device routes take only an enrolment token, which the security layer also binds to
the few devices it enrolled (docs/provisioning.md, "Security")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from fleet.api.deps import FleetDep, SessionDep
from fleet.provision import service
from fleet.provision.models import EnrolmentToken

router = APIRouter(prefix="/provision", tags=["provision"])

DEVICE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
DeviceIdPath = Annotated[str, Path(pattern=DEVICE_ID_PATTERN, description="the device's id, gg-<chip uid hex>")]


class TokenCreate(BaseModel):
    installer: str = Field(min_length=1, max_length=128)
    issued_by: str = Field(min_length=1, max_length=128)
    ttl_s: int = Field(default=service.TOKEN_TTL_S, ge=60, le=service.TOKEN_TTL_MAX_S)


class TokenIssued(BaseModel):
    id: int
    token: str
    installer: str
    expires_at: datetime


class TokenRevoke(BaseModel):
    by: str = Field(min_length=1, max_length=128)


class KeyRequest(BaseModel):
    uid: str | None = Field(default=None, pattern=r"^[0-9a-f]{2,64}$")
    rekey: bool = False


class KeyPublic(BaseModel):
    device_id: str
    version: int
    fingerprint: str
    in_use: bool
    created: bool
    oscore: dict[str, str] | None
    coap_port: int | None  # where the device sends (the fleet's bound CoAP port)
    fleet_oscore: bool  # whether the fleet protects CoAP with this key yet


class StatusPublic(BaseModel):
    device_id: str
    known: bool
    registered_at: datetime | None
    last_seq: int
    fw: str | None
    site_code: str | None
    address: str | None
    online: bool
    events_after: list[str]
    valve: Literal["open", "closed"] | None  # as the device last reported it


class AcceptanceCreate(BaseModel):
    result: Literal["pass", "fail"]
    checks: dict[str, Any]
    method: Literal["virtual", "installer", "selftest"]
    site: str | None = Field(default=None, max_length=64)
    note: str | None = None
    since: datetime | None = None
    resolve_test_alarm: bool = True


class AcceptancePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: str
    site_code: str | None
    install_id: int | None
    result: str
    checks: dict[str, Any]
    method: str
    installer: str
    tested_at: datetime
    note: str | None


def fleet_speaks_oscore(fleet: object) -> bool:
    """Whether the fleet's CoAP side protects devices with the keys in device_credentials.
    The OSCORE wiring (issue 10) sets `oscore_enabled = True` on the Fleet or its CoAP server;
    until then devices are configured for plain CoAP (their key is issued and kept all the same)."""
    coap = getattr(fleet, "coap", None)
    return bool(getattr(fleet, "oscore_enabled", False) or getattr(coap, "oscore_enabled", False))


def _token(session: SessionDep, authorization: str | None) -> EnrolmentToken:
    value = None
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() == "bearer" and rest.strip():
            value = rest.strip()
    try:
        return service.check_token(session, value)
    except service.NotAuthorised as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=e.message,
                            headers={"WWW-Authenticate": "Bearer"}) from None


AuthHeader = Annotated[str | None, Header(description="Bearer <enrolment token>")]


@router.post("/tokens", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
def create_token(session: SessionDep, body: TokenCreate) -> TokenIssued:
    token, row = service.issue_token(session, installer=body.installer, issued_by=body.issued_by, ttl_s=body.ttl_s)
    session.commit()
    return TokenIssued(id=row.id, token=token, installer=row.installer, expires_at=row.expires_at)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(session: SessionDep, token_id: int, body: TokenRevoke) -> dict[str, Any]:
    row = service.revoke_token(session, token_id=token_id, by=body.by)
    session.commit()
    return {"id": row.id, "revoked_at": row.revoked_at}


@router.post("/devices/{device_id}/key", response_model=KeyPublic)
def device_key(session: SessionDep, fleet: FleetDep, device_id: DeviceIdPath, body: KeyRequest, response: Response,
               authorization: AuthHeader = None) -> KeyPublic:
    """The device's key: created by the fleet on first call (201); the same key again while
    the device has not used it (200); only its fingerprint once in use; new with `rekey`."""
    tok = _token(session, authorization)
    answer = service.device_key(session, device_id=device_id, uid=body.uid, token=tok, rekey=body.rekey)
    session.commit()
    if answer.created:
        response.status_code = status.HTTP_201_CREATED
    return KeyPublic(**answer.__dict__, coap_port=fleet.coap_port, fleet_oscore=fleet_speaks_oscore(fleet))


@router.get("/devices/{device_id}/status", response_model=StatusPublic)
def device_status(session: SessionDep, device_id: DeviceIdPath, after_seq: int = 0,
                  authorization: AuthHeader = None) -> StatusPublic:
    """Registered yet, and which event kinds arrived after `after_seq`: what the installer's
    tool polls (the device routes under /devices are for users, not enrolment tokens)."""
    _token(session, authorization)
    session.commit()
    return StatusPublic(**service.device_status(session, device_id=device_id, after_seq=after_seq))


@router.post("/devices/{device_id}/acceptance", response_model=AcceptancePublic,
             status_code=status.HTTP_201_CREATED)
def create_acceptance(session: SessionDep, device_id: DeviceIdPath, body: AcceptanceCreate,
                      authorization: AuthHeader = None) -> AcceptancePublic:
    tok = _token(session, authorization)
    row = service.record_acceptance(session, device_id=device_id, result=body.result, checks=body.checks,
                                    method=body.method, token=tok, site=body.site, note=body.note,
                                    resolve_test_alarm=body.resolve_test_alarm, since=body.since)
    session.commit()
    return AcceptancePublic.model_validate(row)


@router.get("/devices/{device_id}/acceptance", response_model=list[AcceptancePublic])
def list_acceptance(session: SessionDep, device_id: DeviceIdPath, authorization: AuthHeader = None
                    ) -> list[AcceptancePublic]:
    _token(session, authorization)
    session.commit()  # the token's use count
    return [AcceptancePublic.model_validate(r) for r in service.acceptances(session, device_id)]
