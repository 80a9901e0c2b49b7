"""Campaign test helpers: ledgers built in memory, a small catalogue, a two-township town."""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Any

from openpyxl import Workbook

from fleet.campaign.ledger import COLUMNS
from fleet.campaign.service import ItemSpec
from fleet.store.models import ProductModel

HEADERS = [c.header for c in COLUMNS]


def ledger_bytes(rows: Sequence[Sequence[Any]], headers: Sequence[str] = HEADERS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "台账"
    ws.append(list(headers))
    for r in rows:
        ws.append(list(r))
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


def add_catalogue(session) -> None:  # noqa: ANN001
    session.add_all([
        ProductModel(code="AS-OK", kind="alarm_shutoff", maker="M", model="AS1", approved=True,
                     calibration_interval_days=365, sensor_life_days=1825),
        ProductModel(code="ALM-OK", kind="alarm", maker="M", model="A1", approved=True, calibration_interval_days=365),
        ProductModel(code="ALM-NO", kind="alarm", maker="X", model="cheap", approved=False),
        ProductModel(code="SHUT-OK", kind="shutoff", maker="M", model="S1", approved=True),
        ProductModel(code="SCV", kind="self_closing_valve", maker="V", model="Z", service_life_days=3650),
        ProductModel(code="HOSE", kind="hose", maker="H", model="H", service_life_days=2920),
    ])
    session.flush()


# account -> (name, category, supply, township, community)
TOWN: dict[str, tuple[str, str, str, str, str]] = {
    "A-R1": ("户1", "residential", "pipeline", "城关镇", "东街"),
    "A-R2": ("户2", "residential", "pipeline", "城关镇", "东街"),
    "A-R3": ("户3", "residential", "pipeline", "城关镇", "西街"),
    "A-R4": ("户4", "residential", "pipeline", "城关镇", "西街"),
    "A-L1": ("户5", "residential", "lpg", "城关镇", "西街"),
    "A-N1": ("饭店1", "non_residential", "pipeline", "城关镇", "东街"),
    "A-N2": ("饭店2", "non_residential", "lpg", "城关镇", "西街"),
    "B-R1": ("户6", "residential", "pipeline", "广武镇", "南村"),
    "B-R2": ("户7", "residential", "pipeline", "广武镇", "南村"),
    "B-N1": ("厂1", "non_residential", "pipeline", "广武镇", "南村"),
}
VALVE, HOSE = ItemSpec("self_closing_valve", "SCV"), ItemSpec("hose", "HOSE")




# --- a test app and a live server -----------------------------------------------------------

def make_app(database: Any, *, pin: str | None = None) -> Any:
    """The campaign and work-order routers on a bare FastAPI app over `database`, with the fleet's
    error format. `pin` pins every request to one township, as an auth layer would."""
    from types import SimpleNamespace

    from fastapi import APIRouter, FastAPI, Request

    from fleet.api.main import install_error_handlers
    from fleet.campaign import api as campaign_api
    from fleet.campaign import pages as campaign_pages
    from fleet.lifecycle import api as lifecycle_api
    from fleet.lifecycle import pages as lifecycle_pages

    app = FastAPI()
    app.state.fleet = SimpleNamespace(db=database, settings=SimpleNamespace(lang="zh"))
    install_error_handlers(app)
    api = APIRouter(prefix="/api/v1")
    api.include_router(campaign_api.router)
    api.include_router(lifecycle_api.router)
    app.include_router(api)
    app.include_router(campaign_pages.router)
    app.include_router(lifecycle_pages.router)
    if pin:
        @app.middleware("http")
        async def _pin(request: Request, call_next: Any) -> Any:
            request.state.township = pin
            return await call_next(request)
    return app


class LiveServer:
    """uvicorn serving `app` on 127.0.0.1 and a free port, in a thread."""

    def __init__(self, app: Any) -> None:
        import threading
        import time

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
