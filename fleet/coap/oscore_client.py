"""Protecting the fleet's own requests to devices (GET /health, POST /cmd) with each device's
context, through aiocoap's OSCORE transport.

The server context is created with the `oscore` transport in front of `udp6`; its
`client_credentials` is a `DeviceCredentials` map that answers aiocoap's "which context for this
request?" from the request's address: the device last heard there (or stored with that
address) when it speaks OSCORE. aiocoap then protects the request, unprotects the answer, and
answers a device's 4.01 + Echo after its reboot by itself (RFC 8613 Appendix B.1.2). A device
that does not speak OSCORE yet is asked in plain CoAP, as before."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiocoap.credentials import CredentialsMap, CredentialsMissingError

from fleet.coap.oscore_keys import DeviceContexts


def request_hostinfo(uri: str) -> str:
    """`host:port` of a coap:// URI, as `remote.hostinfo` spells a device's address."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port or 5683}"


class DeviceCredentials(CredentialsMap):
    """aiocoap's client credentials, looked up per device instead of per URI pattern."""

    def __init__(self, contexts: DeviceContexts) -> None:
        super().__init__()
        self.contexts = contexts

    def credentials_from_request(self, msg: Any) -> Any:
        ctx = self.contexts.for_address(request_hostinfo(msg.get_request_uri()))
        if ctx is None:
            raise CredentialsMissingError("device does not speak OSCORE")
        return ctx
