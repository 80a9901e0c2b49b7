"""Dashboard pages of the security package: sign in (/login), sign out (/logout) and the audit
log (/audit, city administrator). Chinese by default, `?lang=en` switches, like the rest."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from fleet.security import audit_view, service
from fleet.security.guard import SESSION_COOKIE, client_address
from fleet.services import audit

router = APIRouter(include_in_schema=False)
_env = Environment(loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
                   autoescape=select_autoescape(["html"]))
LOGIN_CSRF_COOKIE = "gg_login_csrf"

TEXT = {
    "zh": {"app": "燃气报警器监管平台", "title": "登录", "username": "用户名", "password": "密码", "submit": "登录",
           "switch": "English", "bad": "用户名或密码错误", "csrf": "页面已过期，请重新登录", "audit": "审计日志",
           "actor": "操作人", "action": "操作", "entity": "对象", "at": "时间", "address": "来源地址",
           "detail": "详情", "filter": "筛选", "count": "共"},
    "en": {"app": "Gas alarm fleet", "title": "Sign in", "username": "Username", "password": "Password",
           "submit": "Sign in", "switch": "中文", "bad": "wrong username or password",
           "csrf": "the page expired; please sign in again", "audit": "Audit log", "actor": "Who", "action": "What",
           "entity": "Record", "at": "When", "address": "From", "detail": "Detail", "filter": "Filter",
           "count": "Rows"},
}


def _lang(request: Request, given: str | None = None) -> str:
    for c in (given, request.query_params.get("lang"), request.cookies.get("lang")):
        if c in ("zh", "en"):
            return c
    return "zh"


def _safe_next(url: str | None) -> str:
    url = url or "/"
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else "/"


def login_page_html(lang: str, *, next_url: str, error: str | None, csrf: str | None = None) -> tuple[str, str]:
    """The login page and the Set-Cookie value of its login-CSRF cookie (double submit). An
    existing cookie's value is kept, so a second tab or the browser's favicon request does not
    invalidate the form already shown."""
    csrf = csrf if csrf and 20 <= len(csrf) <= 64 else secrets.token_urlsafe(24)
    other = "en" if lang == "zh" else "zh"
    switch = "/login?" + urlencode({"next": _safe_next(next_url), "lang": other})
    text = _env.get_template("security_login.html").render(lang=lang, t=TEXT[lang], csrf=csrf, error=error,
                                                            next_url=_safe_next(next_url), switch_url=switch)
    cookie = f"{LOGIN_CSRF_COOKIE}={csrf}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600"
    return text, cookie


def _login_response(request: Request, lang: str, next_url: str, error: str | None, status: int) -> HTMLResponse:
    text, cookie = login_page_html(lang, next_url=next_url, error=error, csrf=request.cookies.get(LOGIN_CSRF_COOKIE))
    resp = HTMLResponse(text, status_code=status, headers={"cache-control": "no-store"})
    resp.headers.append("set-cookie", cookie)
    if lang:
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return resp


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str, Query()] = "/",
               lang: Annotated[str | None, Query()] = None) -> HTMLResponse:
    return _login_response(request, _lang(request, lang), next, None, 200)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/",
          lang: Annotated[str | None, Form()] = None) -> Response:
    lng = _lang(request, lang)
    address = client_address(request.scope)
    if not service.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return _login_response(request, lng, next, TEXT[lng]["csrf"], 403)
    db = request.app.state.fleet.db
    with db.session() as session:
        failures = service.recent_failures(session, username)
        if failures >= service.LOCKOUT_FAILURES:
            msg = (f"连续{failures}次登录失败，请{service.LOCKOUT_S // 60}分钟后再试" if lng == "zh" else
                   f"{failures} failed sign-ins in a row; try again in {service.LOCKOUT_S // 60} minutes")
            return _login_response(request, lng, next, msg, 429)
        try:
            user = service.verify_password(session, username, password)
        except service.AuthError as e:
            audit.record(session, actor=(username or "?")[:128], action="login.failed", entity="user",
                         entity_id=(username or "?").strip().lower()[:64],
                         detail={"address": address, "reason": e.reason})
            session.commit()
            return _login_response(request, lng, next, TEXT[lng]["bad"] if e.reason == "bad_credentials" else e.message,
                                   401)
        sid, _row = service.open_session(session, user, address=address)
        session.commit()
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, sid, max_age=service.SESSION_TTL_S, httponly=True, samesite="lax",
                    secure=request.url.scheme == "https", path="/")
    resp.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    p: service.Principal | None = getattr(request.state, "principal", None)
    if p is not None and p.via == "session" and p.credential_id is not None:
        with request.app.state.fleet.db.session() as session:
            service.close_session(session, p.credential_id, by=p.username, address=client_address(request.scope))
            session.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


def _fmt(request: Request) -> Any:
    settings = getattr(request.app.state.fleet, "settings", None)
    try:
        tz = ZoneInfo(getattr(settings, "display_tz", "Asia/Shanghai"))
    except (ZoneInfoNotFoundError, ValueError):
        tz = timezone.utc

    def fmt(t: datetime | None) -> str:
        return t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if t else "—"
    return fmt


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, actor: str | None = None, action: str | None = None, entity: str | None = None,
               lang: Annotated[str | None, Query()] = None) -> HTMLResponse:
    lng = _lang(request, lang)
    with request.app.state.fleet.db.session() as session:
        rows, count = audit_view.query(session, actor=actor, action=action, entity=entity, limit=500)
        q = {k: v for k, v in {"actor": actor, "action": action, "entity": entity}.items() if v}
        other = "en" if lng == "zh" else "zh"
        text = _env.get_template("security_audit.html").render(
            lang=lng, t=TEXT[lng], rows=rows, count=count, q=q, fmt=_fmt(request),
            switch_url="/audit?" + urlencode({**q, "lang": other}),
            csv_href="/api/v1/security/audit.csv?" + urlencode(q), xlsx_href="/api/v1/security/audit.xlsx?" + urlencode(q))
    resp = HTMLResponse(text)
    if lang in ("zh", "en"):
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return resp
