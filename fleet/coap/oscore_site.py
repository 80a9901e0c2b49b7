"""The fleet's OSCORE server side: unprotects device requests with the device's own context,
hands the plain request to the fleet's site, protects its answers (RFC 8613 §8.2, §8.3).

Modelled on aiocoap's `OscoreSiteWrapper` (same calls into aiocoap's OSCORE), with what the fleet
needs on top: contexts come from `DeviceContexts` (one per device, from `device_credentials`),
every refusal is counted per device (`ErrorCounter`, table `device_refusals`), and an accepted
request tells `DeviceContexts` where the device is and that it speaks OSCORE.

Refusals (never any state change: the replay window is marked only after the tag verifies, and
the plain request never reaches a resource):

| what | answer | reason counted |
|---|---|---|
| kid (or kid context) not known | 4.01 "Security context not found" | `oscore_unknown_context` (device `kid:<hex>`) |
| Partial IV seen before / below the window | 4.01 "Replay detected" | `oscore_replay` |
| first request of a device whose window is unknown (fleet crashed) | protected 4.01 + Echo (B.1.2) | `oscore_echo` |
| malformed OSCORE option / COSE object | 4.02 "Failed to decode COSE" | `oscore_bad_option` |
| tag mismatch: forged, wrong key, altered | 4.00 "Decryption failed" | `oscore_decrypt_failed` |
| authentic but the inner message does not parse | 4.00 "Failed to decode plaintext" | `oscore_decode_failed` |
| method other than POST/FETCH outside | 4.05 | `oscore_bad_method` |
| plain request naming a device that speaks OSCORE | 4.01 "OSCORE required" (fleet/coap/server.py) | `oscore_required` |
| protected request whose body names another device | 4.03 (fleet/coap/server.py) | `oscore_wrong_device` |

NON requests that fail are dropped without an answer, as aiocoap does."""

from __future__ import annotations

import logging
from typing import Any

import aiocoap
import aiocoap.pipe
from aiocoap import interfaces
from aiocoap import oscore as ao
from aiocoap.numbers.codes import Code
from aiocoap.transports.oscore import OSCOREAddress

from fleet.coap.oscore_keys import DeviceContext, DeviceContexts
from fleet.ingest.counters import ErrorCounter

log = logging.getLogger(__name__)

RESOURCE = "oscore"  # the ingest_errors resource of refusals before the path is known (it is encrypted)


def refusal(exc: Exception) -> tuple[Code, str, str]:
    """(code, diagnostic payload, counted reason) for an exception out of `unprotect`."""
    if isinstance(exc, ao.ReplayError):
        return Code.UNAUTHORIZED, "Replay detected", "oscore_replay"
    if isinstance(exc, ao.DecodeError):
        return Code.BAD_OPTION, "Failed to decode COSE", "oscore_bad_option"
    if isinstance(exc, ao.ProtectionInvalid):
        return Code.BAD_REQUEST, "Decryption failed", "oscore_decrypt_failed"
    return Code.BAD_REQUEST, "Failed to decode plaintext", "oscore_decode_failed"


def hostinfo(remote: Any) -> str | None:
    try:
        return str(remote.hostinfo)
    except Exception:  # noqa: BLE001 - a transport without hostinfo
        return None


def device_of(request: aiocoap.Message) -> DeviceContext | None:
    """The context an incoming request was authenticated with, or None for a plain request."""
    remote = request.remote
    if isinstance(remote, OSCOREAddress) and isinstance(remote.security_context, DeviceContext):
        return remote.security_context
    return None


class OscoreSite(interfaces.Resource):
    """Wraps the fleet's site: protected requests are unprotected here; plain ones go through
    unchanged (the ingest resources refuse those naming a device that speaks OSCORE)."""

    def __init__(self, inner: Any, contexts: DeviceContexts, counter: ErrorCounter) -> None:
        self.inner = inner
        self.contexts = contexts
        self.counter = counter

    def get_resources_as_linkheader(self) -> Any:
        return self.inner.get_resources_as_linkheader()

    async def render(self, request: aiocoap.Message) -> aiocoap.Message:
        raise RuntimeError("OscoreSite is used through render_to_pipe only")

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        raise RuntimeError("OscoreSite is used through render_to_pipe only")

    def _refuse(self, pipe: Any, request: aiocoap.Message, code: Code, text: str, reason: str, device: str,
                detail: str) -> None:
        remote = hostinfo(request.remote)
        self.counter.count(RESOURCE, reason, detail, remote, device=device)
        log.warning("OSCORE request from %s refused (%s, device %s): %s", remote, reason, device, detail)
        if request.mtype == aiocoap.CON:
            pipe.add_response(aiocoap.Message(code=code, max_age=0, payload=text.encode()), is_last=True)

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        try:
            bag = ao.verify_start(request)
        except ao.NotAProtectedMessage:
            await self.inner.render_to_pipe(pipe)
            return
        except ao.DecodeError as e:
            self._refuse(pipe, request, Code.BAD_OPTION, "Failed to decode COSE", "oscore_bad_option", "",
                         f"OSCORE option: {e}")
            return
        except Exception as e:  # noqa: BLE001 - a malformed option must not become a 5.00
            self._refuse(pipe, request, Code.BAD_OPTION, "Failed to decode COSE", "oscore_bad_option", "",
                         f"OSCORE option: {e!r}")
            return
        kid = bag.get(ao.COSE_KID)
        if request.code not in (Code.POST, Code.FETCH):
            self._refuse(pipe, request, Code.METHOD_NOT_ALLOWED, "OSCORE requests are POST or FETCH",
                         "oscore_bad_method", "", f"outer code {request.code}")
            return
        ctx = self.contexts.find(kid, bag.get(ao.COSE_KID_CONTEXT)) if isinstance(kid, bytes) else None
        if ctx is None:
            who = f"kid:{kid.hex()}" if isinstance(kid, bytes) else "kid:none"
            self._refuse(pipe, request, Code.UNAUTHORIZED, "Security context not found", "oscore_unknown_context",
                         who[:32], f"no key with kid {kid.hex() if isinstance(kid, bytes) else None} "
                         f"and kid context {(bag.get(ao.COSE_KID_CONTEXT) or b'').hex() or None}")
            return
        try:
            plain, request_id = ctx.unprotect(request)
        except ao.ReplayErrorWithEcho as e:
            # authentic, but the window is unknown since a crash: a protected 4.01 with Echo
            self.counter.count(RESOURCE, "oscore_echo", "replay window unknown: Echo challenge",
                               hostinfo(request.remote), device=ctx.device_id)
            if request.mtype == aiocoap.CON:
                try:
                    pipe.add_response(e.to_message(), is_last=True)
                except ao.ContextUnavailable as unavailable:
                    log.error("OSCORE: cannot protect the Echo challenge to %s: %s", ctx.device_id, unavailable)
                    pipe.add_response(aiocoap.Message(code=Code.SERVICE_UNAVAILABLE, max_age=0,
                                                      payload=b"Security context unavailable"), is_last=True)
            return
        except Exception as e:  # noqa: BLE001 - every unprotect failure is answered and counted
            code, text, reason = refusal(e)
            self._refuse(pipe, request, code, text, reason, ctx.device_id, f"{type(e).__name__}: {e}")
            return
        try:
            same_place = ctx.last_remote is not None and request.remote == ctx.last_remote
        except Exception:  # noqa: BLE001 - address objects of another transport
            same_place = False
        if not same_place or ctx.oscore_since is None:  # hostinfo parses an address: only when it moved
            ctx.last_remote = request.remote
            self.contexts.accepted(ctx, hostinfo(request.remote))
        plain.remote = OSCOREAddress(ctx, request.remote)
        await self._render_protected(pipe, plain, ctx, request_id)

    async def _render_protected(self, pipe: Any, plain: aiocoap.Message, ctx: DeviceContext, request_id: Any) -> None:
        inner_pipe = aiocoap.pipe.IterablePipe(plain)
        guarded = aiocoap.pipe.error_to_message(inner_pipe, log)
        aiocoap.pipe.run_driving_pipe(guarded, self.inner.render_to_pipe(inner_pipe),
                                      name=f"OSCORE rendering for {ctx.device_id}")
        async for event in inner_pipe:
            if event.exception is not None:
                log.warning("OSCORE: %s failed under protection: %r", ctx.device_id, event.exception)
                message = aiocoap.Message(code=Code.INTERNAL_SERVER_ERROR)
            else:
                message = event.message
            try:
                protected, _ = ctx.protect(message, request_id)
            except ao.ContextUnavailable as e:
                log.error("OSCORE: cannot protect the answer to %s: %s", ctx.device_id, e)
                pipe.add_response(aiocoap.Message(code=Code.SERVICE_UNAVAILABLE, max_age=0,
                                                  payload=b"Security context unavailable"), is_last=True)
                return
            pipe.add_response(protected, is_last=True)
            return


__all__ = ["OscoreSite", "device_of", "refusal", "RESOURCE"]
