"""The FastAPI application: routers under /api/v1, the dashboard at /, one error format.

Every error is JSON `{"detail": "<what was wrong>", "reason": "<slug>"}`: domain errors get
their status from the one error table (fleet/core/errors.py); validation errors name each field
(`body.op: Input should be 'close_valve', 'selftest' or 'reboot'`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet.api.routes import alarms, audit, commands, devices, events, health, models, sites
from fleet.core import plugins
from fleet.core.errors import FleetError, http_status
from fleet.runtime import Fleet

log = logging.getLogger(__name__)

api_router = APIRouter(prefix="/api/v1")
for _r in (devices, models, sites, events, alarms, commands, audit, health):
    api_router.include_router(_r.router)

# Routers other fleet packages own, mounted here so adding one is one line (like fleet/cli.py's
# SUBCOMMANDS): "module:attribute" of an APIRouter. API routers go under /api/v1, pages at /.
# A module not written yet is skipped; an error inside an existing one surfaces.
PLUGIN_API_ROUTERS = (
    "fleet.lifecycle.api:router",
    "fleet.campaign.api:router",
    "fleet.provision.api:router",
    "fleet.security.api:router",
    "fleet.manufacturing.api:router",
)
PLUGIN_PAGE_ROUTERS = (
    "fleet.lifecycle.pages:router",
    "fleet.campaign.pages:router",
    "fleet.security.pages:router",
)


def _plugin(target: str) -> APIRouter | None:
    return plugins.load(target)  # type: ignore[no-any-return]


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FleetError)
    async def fleet_error(_request: Request, exc: FleetError) -> JSONResponse:
        status = http_status(exc)
        if status >= 500:
            log.error("request failed: %s", exc)
        return JSONResponse(status_code=status, content={"detail": exc.message, "reason": exc.reason})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(problems), "reason": "invalid",
                                                      "errors": [{"field": _field(e["loc"]), "problem": e["msg"]}
                                                                 for e in exc.errors()]})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(status_code=exc.status_code, content={"detail": str(exc.detail), "reason": reason},
                            headers=getattr(exc, "headers", None))


def create_app(fleet: Fleet, *, manage: bool = False, coap: bool = True, background: bool = True) -> FastAPI:
    """The HTTP app over a Fleet. With `manage=True` the app's lifespan starts and stops the
    fleet (tests, single-process use); `gasguard serve` starts the fleet itself."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage:
            await fleet.start(coap=coap, background=background)
        try:
            yield
        finally:
            if manage:
                await fleet.stop()

    app = FastAPI(
        title="gasguard fleet",
        version="0.1.0",
        description="Devices, alarms, commands and the catalogue of a city's gas-leak alarms.",
        lifespan=lifespan,
    )
    app.state.fleet = fleet
    install_error_handlers(app)
    app.include_router(api_router)
    for target in PLUGIN_API_ROUTERS:
        router = _plugin(target)
        if router is not None:
            app.include_router(router, prefix="/api/v1")
    from fleet.web.routes import router as web_router

    app.include_router(web_router)
    app.state.nav = []  # (path, i18n key) of mounted page routers, for the dashboard's header
    for target in PLUGIN_PAGE_ROUTERS:
        router = _plugin(target)
        if router is not None:
            app.include_router(router)
            if router.prefix:
                app.state.nav.append((router.prefix + "/", "nav_" + router.prefix.strip("/").replace("/", "_")))
    from fleet.security.guard import install as install_guard

    install_guard(app)  # every route behind its rule in fleet/security/policy.py (docs/security.md)
    return app
