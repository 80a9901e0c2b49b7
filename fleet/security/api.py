"""/api/v1/security: who am I, users and their tokens (city administrator), installer
enrolment tokens for a small batch of devices (operators), and the audit log as CSV / Excel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from fleet.api.deps import SessionDep
from fleet.provision import service as provision_service
from fleet.security import audit_view, enrolment, service
from fleet.security.service import Principal

router = APIRouter(prefix="/security", tags=["security"])


def current_principal(request: Request) -> Principal:
    p = getattr(request.state, "principal", None)
    if p is None:  # the guard lets no one through without one; this is a second lock
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="sign in first")
    return p  # type: ignore[no-any-return]


PrincipalDep = Annotated[Principal, Depends(current_principal)]


class Me(BaseModel):
    username: str
    role: str
    township: str | None
    via: str


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    display_name: str | None
    role: str
    township: str | None
    disabled: bool
    created_at: datetime


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=service.MIN_PASSWORD, max_length=1024)
    role: str
    township: str | None = None
    display_name: str | None = Field(default=None, max_length=128)


class UserUpdate(BaseModel):
    role: str | None = None
    township: str | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=service.MIN_PASSWORD, max_length=1024)


class TokenCreate(BaseModel):
    name: str = Field(default="api", min_length=1, max_length=128)
    ttl_days: int = Field(default=service.TOKEN_TTL_DAYS, ge=1, le=service.TOKEN_TTL_MAX_DAYS)


class TokenIssued(BaseModel):
    id: int
    token: str
    username: str
    expires_at: datetime


class EnrolmentCreate(BaseModel):
    installer: str = Field(min_length=1, max_length=128)
    ttl_s: int = Field(default=2 * 3600, ge=60, le=enrolment.TTL_MAX_S)
    max_devices: int = Field(default=1, ge=1, le=enrolment.MAX_DEVICES_CAP)


class EnrolmentIssued(BaseModel):
    id: int
    token: str
    installer: str
    expires_at: datetime
    max_devices: int


@router.get("/me", response_model=Me)
def me(p: PrincipalDep) -> Me:
    return Me(username=p.username, role=p.role, township=p.township, via=p.via)


@router.get("/users", response_model=list[UserPublic])
def list_users(session: SessionDep) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in service.list_users(session)]


@router.post("/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(session: SessionDep, p: PrincipalDep, body: UserCreate) -> UserPublic:
    u = service.create_user(session, username=body.username, password=body.password, role=body.role,
                            township=body.township, display_name=body.display_name, by=p.username)
    session.commit()
    return UserPublic.model_validate(u)


@router.patch("/users/{username}", response_model=UserPublic)
def update_user(session: SessionDep, p: PrincipalDep, username: str, body: UserUpdate) -> UserPublic:
    u = service.get_user(session, username)
    if body.role is not None or "township" in body.model_fields_set:
        u = service.set_role(session, username=username, role=body.role or u.role,
                             township=body.township if "township" in body.model_fields_set else u.township, by=p.username)
    if body.disabled is not None:
        u = service.set_disabled(session, username=username, disabled=body.disabled, by=p.username)
    if body.password is not None:
        u = service.reset_password(session, username=username, password=body.password, by=p.username)
    session.commit()
    return UserPublic.model_validate(u)


@router.post("/users/{username}/tokens", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
def issue_token(session: SessionDep, p: PrincipalDep, username: str, body: TokenCreate) -> TokenIssued:
    token, row = service.issue_token(session, username=username, name=body.name, ttl_days=body.ttl_days,
                                     by=p.username)
    session.commit()
    return TokenIssued(id=row.id, token=token, username=row.user.username, expires_at=row.expires_at)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(session: SessionDep, p: PrincipalDep, token_id: int) -> dict[str, object]:
    row = service.revoke_token(session, token_id=token_id, by=p.username)
    session.commit()
    return {"id": row.id, "revoked_at": row.revoked_at}


@router.post("/enrolment-tokens", response_model=EnrolmentIssued, status_code=status.HTTP_201_CREATED)
def issue_enrolment_token(session: SessionDep, p: PrincipalDep, body: EnrolmentCreate) -> EnrolmentIssued:
    """A short-lived token for `gasguard provision`, good for `max_devices` devices."""
    token, row = provision_service.issue_token(session, installer=body.installer, issued_by=p.username,
                                               ttl_s=body.ttl_s)
    enrolment.set_limit(session, row.id, body.max_devices)
    session.commit()
    return EnrolmentIssued(id=row.id, token=token, installer=row.installer, expires_at=row.expires_at,
                           max_devices=body.max_devices)


def _export(session: SessionDep, actor: str | None, action: str | None, entity: str | None,
            since: datetime | None, until: datetime | None) -> list:  # type: ignore[type-arg]
    rows, _ = audit_view.query(session, actor=actor, action=action, entity=entity, since=since, until=until,
                               limit=audit_view.EXPORT_MAX)
    return rows


@router.get("/audit.csv")
def audit_csv(session: SessionDep, actor: str | None = None, action: str | None = None, entity: str | None = None,
              since: datetime | None = None, until: datetime | None = None) -> Response:
    body = audit_view.to_csv(_export(session, actor, action, entity, since, until))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="audit.csv"'})


@router.get("/audit.xlsx")
def audit_xlsx(session: SessionDep, actor: str | None = None, action: str | None = None,
               entity: str | None = None, since: datetime | None = None, until: datetime | None = None) -> Response:
    body = audit_view.to_xlsx(_export(session, actor, action, entity, since, until))
    return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": 'attachment; filename="audit.xlsx"'})
