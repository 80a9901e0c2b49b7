"""Lifecycle fixtures: a small catalogue and a helper that installs an item at a site."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy.orm import Session

from fleet.store.models import Asset, ProductModel, Site


@pytest.fixture
def catalogue(db) -> dict[str, int]:  # noqa: ANN001 - the shared `db` fixture
    """Product models by code: a detector (calibrated yearly, 5-year sensor), a combined
    alarm+shutoff with a 6-month interval, a valve with a 10-year life, a valve with none (open
    rule), a hose rated 8 years."""
    models = [
        ProductModel(code="ALM-1", kind="alarm", maker="M", model="A1", gas="CH4", sensor="catalytic",
                     calibration_interval_days=365, sensor_life_days=5 * 365, approved=True),
        ProductModel(code="AS-6", kind="alarm_shutoff", maker="M", model="AS", gas="CH4",
                     calibration_interval_days=182, sensor_life_days=5 * 365, approved=True),
        ProductModel(code="SCV-10", kind="self_closing_valve", maker="V", model="Z10", service_life_days=3650),
        ProductModel(code="SCV-X", kind="self_closing_valve", maker="V", model="ZX"),
        ProductModel(code="HOSE-8", kind="hose", maker="H", model="H8", service_life_days=8 * 365),
    ]
    with db.session() as s:
        s.add_all(models)
        s.commit()
        return {m.code: m.id for m in models}


@pytest.fixture
def install(db, catalogue) -> Callable[..., int]:  # noqa: ANN001
    """install(code, on, account=...) -> asset id, creating the site on first use."""

    def _install(code: str, on: date, account: str = "HH-001", township: str = "城关镇") -> int:
        with db.session() as s:
            s: Session
            site = s.query(Site).filter_by(account_no=account).one_or_none()
            if site is None:
                site = Site(account_no=account, name="张三", category="residential", supply="pipeline",
                            township=township, community="一社区")
                s.add(site)
                s.flush()
            model = s.get(ProductModel, catalogue[code])
            asset = Asset(kind=model.kind, product_model_id=model.id, serial=f"{code}-{account}",
                          site_id=site.id, installed_on=on, status="in_service")
            s.add(asset)
            s.commit()
            return asset.id

    return _install
