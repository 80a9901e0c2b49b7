"""The guard: one ASGI middleware in front of the whole app that, for every HTTP request,
1. finds the route (the same templates the app registered) and its rule in policy.ROUTES;
2. authenticates: `Authorization: Bearer <API token>`, or the dashboard's session cookie, or an
   installer's enrolment token on the provisioning device routes;
3. refuses: 401 without valid credentials (pages show the login form), 403 for a role the rule
   does not list or a route no rule declares (the city administrator excepted), 403 for a
   township staff member naming another township;
4. checks CSRF on every state-changing request signed in by cookie (form field `csrf_token`
   or header `X-CSRF-Token`), and adds that field to every POST form of the HTML it serves;
5. scopes a township staff member's queries to their township (fleet/security/scope.py) and
   pins the campaign pages to it (`request.state.township`);
6. appends one audit row per change (POST/PUT/PATCH/DELETE that succeeded) and per refusal of
   a signed-in user: who, what route, from which address.
`install(app)` adds it; fleet/api/main.py calls that once in create_app."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote

from anyio import to_thread
from fastapi.routing import iter_route_contexts
from sqlalchemy import event
from starlette.routing import compile_path

from fleet.security import enrolment, policy, scope, service
from fleet.security.roles import Role, label
from fleet.services import audit
from fleet.store.models import AuditLog

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SESSION_COOKIE = "gg_session"
ENROLMENT_PREFIX = "gge_"  # fleet/provision's enrolment tokens; users' API tokens start "ggt_"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BODY = 32 * 1024 * 1024  # a ledger workbook; bigger state-changing bodies are refused
_FORM_RE = re.compile(rb"<form\b[^>]*\bmethod=[\"']?post[\"']?[^>]*>", re.IGNORECASE)
_MULTIPART_CSRF = re.compile(rb'name="csrf_token"\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]*)\r\n')


class AppendOnly(Exception):
    """Raised by the store hooks when code tries to update or delete an audit row."""


# --- route table --------------------------------------------------------------------------------

class RouteTable:
    """(regex, template, methods) of every route of the app, in the app's matching order."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.entries: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = None

    def build(self) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
        out = []
        for rc in iter_route_contexts(self.app.routes):
            path = rc.path
            if not path:
                continue
            regex, _fmt, _conv = compile_path(path)
            out.append((regex, path, frozenset(rc.methods or ())))
        return out

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        if self.entries is None:
            self.entries = self.build()
        for regex, template, methods in self.entries:
            m = regex.match(path)
            if m and (method in methods or (method == "HEAD" and "GET" in methods)):
                return template, m.groupdict()
        return None


def declared_routes(app: Any) -> list[tuple[str, str]]:
    """(method, template) of every route of the app (HEAD folded into GET): what the policy
    table must cover."""
    out = []
    for rc in iter_route_contexts(app.routes):
        for m in sorted((rc.methods or set()) - {"HEAD"}):
            out.append((m, rc.path))
    return out


# --- helpers ------------------------------------------------------------------------------------

def _headers(scope_: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope_.get("headers", [])}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    c = SimpleCookie()
    try:
        c.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header is simply no cookie
        return None
    return c[name].value if name in c else None


def client_address(scope_: Scope) -> str | None:
    client = scope_.get("client")
    return str(client[0]) if client else None


def _is_page(path: str) -> bool:
    return not path.startswith("/api/") and path not in ("/openapi.json",)


async def _send_json(send: Send, status: int, detail: str, reason: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail, "reason": reason}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for k, v in (extra or {}).items():
        headers.append((k.encode(), v.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_html(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")] + (extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _lang(scope_: Scope, headers: dict[str, str]) -> str:
    qs = parse_qs(scope_.get("query_string", b"").decode("latin-1"))
    q = (qs.get("lang") or [None])[0]
    if q in ("zh", "en"):
        return q
    c = _cookie(headers, "lang")
    return c if c in ("zh", "en") else "zh"


def _forbidden_page(lang: str, message: str) -> str:
    title = "无权访问" if lang == "zh" else "Not allowed"
    back = "返回首页" if lang == "zh" else "Back to the overview"
    return (f"<!doctype html><html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head><body><h1>{title}</h1><p id=\"reason\">{html.escape(message)}</p>"
            f"<p><a href=\"/\">{back}</a> · <a href=\"/login\">{'换个账号登录' if lang == 'zh' else 'Sign in as someone else'}"
            "</a></p></body></html>")


# --- the middleware -----------------------------------------------------------------------------

class SecurityMiddleware:
    def __init__(self, app: Any, fastapi_app: Any) -> None:
        self.app = app
        self.routes = RouteTable(fastapi_app)
        self.fastapi_app = fastapi_app

    def _db(self) -> Any:
        return self.fastapi_app.state.fleet.db

    async def __call__(self, scope_: Scope, receive: Receive, send: Send) -> None:
        if scope_["type"] != "http":
            await self.app(scope_, receive, send)
            return
        scope.set_township(None)  # nothing carried over from an earlier request in this context
        send = _with_headers(send)
        method = scope_["method"]
        path = scope_["path"]
        headers = _headers(scope_)
        found = self.routes.match(method, path)
        template, params = found if found else (None, {})
        rule = policy.rule_for(method, template) if template else None

        # authenticate
        principal: service.Principal | None = None
        auth_error: service.AuthError | None = None
        bearer = None
        authz = headers.get("authorization", "")
        if authz[:7].lower() == "bearer ":
            bearer = authz[7:].strip() or None
        sid = _cookie(headers, SESSION_COOKIE)
        if bearer and bearer.startswith(ENROLMENT_PREFIX):
            if rule is None or not rule.enrolment:
                await _send_json(send, 403, "an enrolment token is only for the provisioning routes "
                                 "(gasguard provision); sign in as a user for the rest", "forbidden")
                return
            problem, installer = await to_thread.run_sync(self._check_enrolment, bearer, params.get("device_id"))
            if problem is not None:
                status, message, reason = problem
                await _send_json(send, status, message, reason, {"www-authenticate": "Bearer"})
                return
            self._attach(scope_, None)
            who = service.Principal(0, f"enrolment:{installer}"[:128], "installer", None, "enrolment")
            holder = {"status": 0}
            await self.app(scope_, receive, self._wrap_send(send, who, holder, "zh"))
            if method in policy.STATE_CHANGING and 200 <= holder["status"] < 400:
                await to_thread.run_sync(self._audit, who, "http." + method.lower(), method, template, path,
                                         holder["status"], client_address(scope_), None)
            return
        if rule is not None and rule.enrolment and not rule.roles and not bearer:
            from fleet.provision.service import NotAuthorised, check_token

            try:
                check_token(None, None)  # type: ignore[arg-type]  # its own words for a missing token
            except NotAuthorised as e:
                await _send_json(send, 401, e.message, e.reason, {"www-authenticate": "Bearer"})
            return
        if bearer or sid:
            try:
                principal = await to_thread.run_sync(self._principal, bearer, sid)
            except service.AuthError as e:
                auth_error = e

        if rule is not None and rule.public:
            self._attach(scope_, principal)
            await self.app(scope_, receive, send)
            return
        if principal is None:
            await self._unauthenticated(scope_, send, headers, path, auth_error, bool(bearer))
            return
        if template is None:  # no such route: let the app say 404/405 to a signed-in user
            self._attach(scope_, principal)
            await self.app(scope_, receive, send)
            return

        lang = _lang(scope_, headers)
        refusal = self._refusal(rule, principal, template, scope_)
        if refusal is not None:
            await to_thread.run_sync(self._audit, principal, "access.denied", method, template, path, 403,
                                     client_address(scope_), refusal)
            if _is_page(path):
                await _send_html(send, 403, _forbidden_page(lang, refusal))
            else:
                await _send_json(send, 403, refusal, "forbidden")
            return

        if principal.via == "session" and method in policy.STATE_CHANGING:
            body, ok = await self._read_body(receive)
            if not ok:
                await _send_json(send, 413, f"request body over {MAX_FORM_BODY} bytes", "too_large")
                return
            given = headers.get(CSRF_HEADER) or self._form_csrf(headers.get("content-type", ""), body)
            if not service.csrf_ok(principal.csrf, given):
                msg = "CSRF token missing or wrong: reload the page and submit the form again"
                if _is_page(path):
                    await _send_html(send, 403, _forbidden_page(lang, msg))
                else:
                    await _send_json(send, 403, msg, "csrf")
                return
            receive = _replay(body, receive)

        self._attach(scope_, principal)
        status_holder = {"status": 0}
        send = self._wrap_send(send, principal, status_holder, lang)
        await self.app(scope_, receive, send)
        if method in policy.STATE_CHANGING and 200 <= status_holder["status"] < 400:
            await to_thread.run_sync(self._audit, principal, "http." + method.lower(), method, template, path,
                                     status_holder["status"], client_address(scope_), None)

    # -- pieces --

    def _principal(self, bearer: str | None, sid: str | None) -> service.Principal:
        with self._db().session() as session:
            p = service.principal_from_token(session, bearer) if bearer else service.principal_from_session(session, sid)  # type: ignore[arg-type]
            session.commit()  # last_used_at
            return p

    def _check_enrolment(self, token: str, device_id: str | None) -> tuple[tuple[int, str, str] | None, str]:
        """(refusal or None, the installer the token was issued to)."""
        with self._db().session() as session:
            try:
                row = enrolment.check_device(session, token, device_id)
            except service.AuthError as e:
                return (401, e.message, e.reason), ""
            except enrolment.TokenOverused as e:
                return (403, e.message, "token_batch_used"), ""
            installer = row.installer
            session.commit()
        return None, installer

    def _refusal(self, rule: policy.Rule | None, p: service.Principal, template: str, scope_: Scope) -> str | None:
        if rule is None:
            if p.role == Role.admin.value:
                return None
            return f"{scope_['method']} {template} is not declared in fleet/security/policy.py; refused"
        if p.role not in rule.roles:
            if rule.enrolment and not rule.roles:
                return "this route takes an installer's enrolment token, not a user's"
            allowed = ", ".join(sorted(rule.roles))
            return f"role {p.role} may not use {scope_['method']} {template} (allowed: {allowed})"
        if p.role == Role.township.value:
            qs = parse_qs(scope_.get("query_string", b"").decode("utf-8", "replace"))
            asked = (qs.get("township") or [None])[0]
            if asked and asked != p.township:
                return f"township {asked!r}: you can see {p.township!r} only"
        return None

    def _attach(self, scope_: Scope, p: service.Principal | None) -> None:
        state = scope_.setdefault("state", {})
        state["principal"] = p
        if p is not None and p.role == Role.township.value:
            state["township"] = p.township
            scope.set_township(p.township)
        else:
            scope.set_township(None)

    async def _unauthenticated(self, scope_: Scope, send: Send, headers: dict[str, str], path: str,
                               err: service.AuthError | None, had_bearer: bool) -> None:
        message = err.message if err else "sign in first: send 'Authorization: Bearer <token>' or use the login page"
        reason = err.reason if err else "unauthenticated"
        if _is_page(path) and not had_bearer:
            from fleet.security.pages import login_page_html

            target = path + ("?" + scope_["query_string"].decode("latin-1") if scope_.get("query_string") else "")
            text, cookie = login_page_html(_lang(scope_, headers), next_url=target, error=None,
                                           csrf=_cookie(headers, "gg_login_csrf"))
            await _send_html(send, 401, text, [(b"set-cookie", cookie.encode())])
            return
        await _send_json(send, 401, message, reason, {"www-authenticate": "Bearer"})

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BODY:
                return b"", False
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        return b"".join(chunks), True

    @staticmethod
    def _form_csrf(content_type: str, body: bytes) -> str | None:
        ct = content_type.lower()
        if ct.startswith("application/x-www-form-urlencoded"):
            return (parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [None])[0]
        if ct.startswith("multipart/form-data"):
            m = _MULTIPART_CSRF.search(body)
            return m.group(1).decode("ascii", "replace") if m else None
        return None

    def _wrap_send(self, send: Send, p: service.Principal, holder: dict[str, int], lang: str) -> Send:
        """Record the status; for a signed-in dashboard user, add the CSRF field to every POST
        form and a sign-out bar to the HTML pages."""
        if p.via != "session":
            async def plain(msg: Message) -> None:
                if msg["type"] == "http.response.start":
                    holder["status"] = msg["status"]
                await send(msg)
            return plain
        start: dict[str, Message] = {}
        chunks: list[bytes] = []

        async def rewriting(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                holder["status"] = msg["status"]
                ctype = dict((k.lower(), v) for k, v in msg.get("headers", [])).get(b"content-type", b"")
                if ctype.startswith(b"text/html"):
                    start["msg"] = msg
                    return
                await send(msg)
                return
            if msg["type"] == "http.response.body" and "msg" in start:
                chunks.append(msg.get("body", b""))
                if msg.get("more_body"):
                    return
                body = _rewrite_html(b"".join(chunks), p, lang)
                head = start.pop("msg")
                hdrs = [(k, v) for k, v in head.get("headers", []) if k.lower() != b"content-length"]
                hdrs.append((b"content-length", str(len(body)).encode()))
                await send({**head, "headers": hdrs})
                await send({"type": "http.response.body", "body": body})
                return
            await send(msg)
        return rewriting

    def _audit(self, p: service.Principal, action: str, method: str, template: str, path: str, status: int,
               address: str | None, why: str | None) -> None:
        detail: dict[str, Any] = {"method": method, "path": path, "status": status, "address": address,
                                  "role": p.role, "via": p.via}
        if p.township:
            detail["township"] = p.township
        if why:
            detail["why"] = why
        try:
            with self._db().session() as session:
                audit.record(session, actor=p.username, action=action, entity="route", entity_id=template[:64],
                             detail=detail)
                session.commit()
        except Exception:  # noqa: BLE001 - the change is done; a lost audit row is our fault, loudly
            log.exception("audit row for %s %s by %s not written", method, path, p.username)


SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin")]


def _with_headers(send: Send) -> Send:
    """Every answer: no MIME sniffing, no framing (clickjacking of the valve buttons), no
    full URLs (with township and account numbers) in Referer to other sites."""
    async def sending(msg: Message) -> None:
        if msg["type"] == "http.response.start":
            have = {k.lower() for k, _ in msg.get("headers", [])}
            msg = {**msg, "headers": list(msg.get("headers", [])) + [h for h in SECURITY_HEADERS if h[0] not in have]}
        await send(msg)
    return sending


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return again


def _rewrite_html(body: bytes, p: service.Principal, lang: str) -> bytes:
    token = html.escape(p.csrf or "").encode()
    field = b'<input type="hidden" name="' + CSRF_FIELD.encode() + b'" value="' + token + b'">'
    body = _FORM_RE.sub(lambda m: m.group(0) + field, body)
    out = "退出登录" if lang == "zh" else "Sign out"
    bar = (f'<div id="gg-user" style="position:fixed;bottom:0;right:0;background:#eceff1;padding:.2rem .6rem;'
           f'font-size:.85rem"><span id="gg-username">{html.escape(p.username)}</span> '
           f'({html.escape(label(p.role, lang))}{" · " + html.escape(p.township) if p.township else ""}) '
           + (f'<a id="audit-link" href="/audit">{"审计日志" if lang == "zh" else "Audit log"}</a> '
              if p.role == Role.admin.value else "") +
           f'<form method="post" action="/logout" style="display:inline">{field.decode()}'
           f'<button id="logout">{out}</button></form></div>').encode()
    if b"</body>" in body:
        body = body.replace(b"</body>", bar + b"</body>", 1)
    return body


# --- store-level append-only --------------------------------------------------------------------

def _refuse_change(_mapper: Any, _conn: Any, target: Any) -> None:
    raise AppendOnly(f"audit_log is append-only: row {target.id} cannot be updated or deleted")


def _refuse_bulk(state: Any) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is AuditLog:
        raise AppendOnly("audit_log is append-only: no UPDATE or DELETE statements")


_store_hooks = False


def install_store_hooks() -> None:
    """Refuse updates and deletes of audit rows in the ORM (the migration adds a database
    trigger too), and register the township scope hook. Idempotent."""
    global _store_hooks
    if _store_hooks:
        return
    from sqlalchemy.orm import Session

    event.listen(AuditLog, "before_update", _refuse_change)
    event.listen(AuditLog, "before_delete", _refuse_change)
    event.listen(Session, "do_orm_execute", _refuse_bulk)
    scope.install()
    _store_hooks = True


def install(app: Any) -> None:
    """Put the guard in front of `app` (call once, after the routers are included)."""
    install_store_hooks()
    app.add_middleware(SecurityMiddleware, fastapi_app=app)


def login_redirect(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")
