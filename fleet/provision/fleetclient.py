"""The installer's HTTP client for the fleet: the few calls provisioning makes, each failure
turned into one sentence an installer can act on."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class FleetError(RuntimeError):
    """The fleet could not be reached or refused; `unreachable` tells which."""

    def __init__(self, message: str, *, unreachable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.unreachable = unreachable
        self.status = status


class FleetClient:
    def __init__(self, url: str, token: str | None, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout_s)
        self.last_date: datetime | None = None

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise FleetError(f"the fleet at {self.url} cannot be reached ({type(e).__name__}: {e})",
                             unreachable=True) from None
        date = r.headers.get("date")
        if date:
            try:
                self.last_date = parsedate_to_datetime(date)
            except (TypeError, ValueError):
                pass
        if r.status_code == 401:
            raise FleetError(f"the fleet refused the enrolment token: {self._detail(r)}", status=401)
        if r.status_code == 404 and path.startswith("/provision/") and self._detail(r) == "Not Found":
            # no such route at all (a domain 404 names the device instead)
            raise FleetError(f"the fleet at {self.url} has no provisioning API (404 on /api/v1{path}); "
                             "it needs a fleet with fleet.provision mounted", status=404)
        return r

    @staticmethod
    def _detail(r: httpx.Response) -> str:
        try:
            body = r.json()
            return str(body.get("detail", body))
        except ValueError:
            return r.text[:200]

    def _ok(self, r: httpx.Response, what: str) -> Any:
        if r.status_code >= 400:
            raise FleetError(f"{what}: the fleet answered {r.status_code}: {self._detail(r)}", status=r.status_code)
        return r.json()

    def status(self, device_id: str, after_seq: int = 0) -> dict[str, Any]:
        r = self._call("GET", f"/provision/devices/{device_id}/status", params={"after_seq": after_seq})
        return dict(self._ok(r, f"status of {device_id}"))

    def key(self, device_id: str, uid: str, *, rekey: bool) -> dict[str, Any]:
        r = self._call("POST", f"/provision/devices/{device_id}/key", json={"uid": uid, "rekey": rekey})
        return dict(self._ok(r, f"key for {device_id}"))

    def acceptance(self, device_id: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self._call("POST", f"/provision/devices/{device_id}/acceptance", json=body)
        return dict(self._ok(r, f"acceptance of {device_id}"))
