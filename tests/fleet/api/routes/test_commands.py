"""fleet/api/routes/commands.py: queue, idempotency, deliver now to a fake device, cancel."""

from __future__ import annotations


from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

from utils.fake_device import FakeDevice

DEV = "gg-a4cf12b3c4d5"


def test_create__idempotent_by_request_key(api_client: TestClient) -> None:
    api_client.post("/api/v1/devices", json={"device_id": DEV})
    body = {"device_id": DEV, "op": "close_valve", "by": "op1", "request_key": "click-1"}
    r1 = api_client.post("/api/v1/commands", json=body)
    r2 = api_client.post("/api/v1/commands", json=body)
    assert (r1.status_code, r2.status_code) == (201, 200)
    assert r1.json()["id"] == r2.json()["id"] and (r1.json()["created"], r2.json()["created"]) == (True, False)
    assert r1.json()["state"] == "pending"
    assert api_client.get("/api/v1/commands", params={"device_id": DEV}).json()["count"] == 1


def test_create__invalid(api_client: TestClient) -> None:
    r = api_client.post("/api/v1/commands", json={"device_id": DEV, "op": "open_valve", "by": "x"})
    assert r.status_code == 422
    assert r.json()["detail"] == "body.op: Input should be 'close_valve', 'selftest' or 'reboot'"
    r = api_client.post("/api/v1/commands", json={"device_id": DEV, "op": "reboot", "by": "x"})
    assert (r.status_code, r.json()["detail"]) == (404, "device 'gg-a4cf12b3c4d5' not found")


def test_create__deliver_now__reaches_device_and_result_comes_back(api_client: TestClient) -> None:
    fleet = api_client.fleet  # type: ignore[attr-defined]
    portal = api_client.portal  # the app's event loop, where the fleet's CoAP side runs
    assert portal is not None
    dev = portal.call(FakeDevice(DEV, fleet.coap_port).start)
    try:
        portal.call(dev.register)
        r = api_client.post("/api/v1/commands", json={"device_id": DEV, "op": "close_valve", "by": "op1",
                                                      "deliver_now": True})
        assert r.status_code == 201, r.text
        c = r.json()
        assert (c["state"], c["sent_via"], c["delivery_error"]) == ("confirmed", "direct", None)
        assert [x["op"] for x in dev.executed] == ["close_valve"]
    finally:
        portal.call(dev.stop)


def test_cancel__then_final(api_client: TestClient) -> None:
    api_client.post("/api/v1/devices", json={"device_id": DEV})
    cid = api_client.post("/api/v1/commands", json={"device_id": DEV, "op": "reboot", "by": "x"}).json()["id"]
    r = api_client.post(f"/api/v1/commands/{cid}/cancel", json={"by": "y"})
    assert r.json()["state"] == "expired" and r.json()["result"] == {"st": "expired", "why": "cancelled by y"}
    r = api_client.post(f"/api/v1/commands/{cid}/cancel", json={"by": "y"})
    assert (r.status_code, r.json()["detail"]) == (409, f"command {cid} is already expired")
    r = api_client.post(f"/api/v1/commands/{cid}/send")
    assert (r.status_code, r.json()["detail"]) == (409, f"command {cid} is already expired")


