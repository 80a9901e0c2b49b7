"""fleet/api/routes/sites.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


def _site(n: int, **kw: str) -> dict[str, str]:
    return {"account_no": f"XY{n:04d}", "name": f"用户{n}", "category": "residential", "supply": "pipeline",
            "township": "豫龙镇", **kw}


def test_crud_filters_search(api_client: TestClient) -> None:
    for i in range(3):
        assert api_client.post("/api/v1/sites", json=_site(i)).status_code == 201
    api_client.post("/api/v1/sites", json=_site(9, township="广武镇", category="non_residential", name="豫香饭店"))
    assert api_client.get("/api/v1/sites", params={"township": "豫龙镇"}).json()["count"] == 3
    assert api_client.get("/api/v1/sites", params={"category": "non_residential"}).json()["count"] == 1
    r = api_client.get("/api/v1/sites", params={"q": "饭店"}).json()
    assert [s["account_no"] for s in r["data"]] == ["XY0009"]
    sid = r["data"][0]["id"]
    assert api_client.patch(f"/api/v1/sites/{sid}", json={"phone": "139"}).json()["phone"] == "139"


def test_invalid(api_client: TestClient) -> None:
    api_client.post("/api/v1/sites", json=_site(1))
    r = api_client.post("/api/v1/sites", json=_site(1))
    assert (r.status_code, r.json()["detail"]) == (409, "site with account number 'XY0001' already exists")
    r = api_client.post("/api/v1/sites", json=_site(2, supply="coal"))
    assert (r.status_code, r.json()["detail"]) == (422, "body.supply: Input should be 'pipeline' or 'lpg'")
