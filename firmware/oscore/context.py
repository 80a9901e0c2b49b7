# An OSCORE security context (RFC 8613) for one device and its fleet, and protect/unprotect of
# requests and responses. The same context serves both directions: the device's uplinks are
# requests it protects (its Sender Key), the fleet's commands are requests it unprotects (its
# Recipient Key), and each side answers the other's requests.
#
# What this is not: a CoAP stack. The CoAP layer hands in (code, Class E options, payload) and
# sends out (outer code, OSCORE option value, ciphertext) and back; it keeps Class U options
# (Uri-Host, Uri-Port, Proxy-*) outside (wire.split_options) and maps errors to responses
# (errors.py). Only AES-CCM-16-64-128 with HKDF-SHA-256 (the RFC's mandatory pair); no Group
# OSCORE, no Class I options, no outer block-wise, no Observe.
#
# State that outlives a reboot: the sender sequence number, persisted ahead in blocks
# (seqstore.py, Appendix B.1.1). State that does not: the replay window. After a boot the first
# request that authenticates is answered with a protected 4.01 + Echo (Appendix B.1.2); the
# peer repeats it with the Echo, and that request starts the window. aiocoap's client does
# this by itself.
#
# Events (on_event(kind, detail), e.g. into the outbox as a device event):
#   oscore_seq_new         a new context starts at sequence number 0 (first boot after
#                          provisioning, or a re-provisioned secret/ID context)
#   oscore_context_lost    the sequence-number record is unreadable: the context refuses to
#                          protect (reusing a nonce would break the cipher); re-provision with
#                          a new Master Secret or ID Context (Appendix B.2's outcome)
#   oscore_seq_exhausted   2**40 - 1 reached: same remedy
#   oscore_store_failed    the limit could not be written; nothing was sent
#   oscore_replay_ready    the replay window started after the Echo round trip
from firmware.oscore import hkdf, port, wire
from firmware.oscore.ccm import Ccm
from firmware.oscore.errors import (
    BadOption,
    ContextNotFound,
    ContextUnavailable,
    DecodeFailed,
    DecryptionFailed,
    EchoRequired,
    ReplayDetected,
)
from firmware.oscore.replay import ReplayWindow

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_KEY_LEN = const(16)
_NONCE_LEN = const(13)
_TAG_LEN = const(8)
_MAX_ID_LEN = const(7)  # nonce length - 6 (s3.3)
_POST = const(2)
_FETCH = const(5)
_CHANGED = const(68)  # 2.04
_CONTENT = const(69)  # 2.05
_UNAUTHORIZED = const(129)  # 4.01
_OBSERVE = const(6)
SEQ_MAX = (1 << 40) - 1
SEQ_BLOCK = 256  # persist this far ahead: one flash write per 256 messages, <= 256 skipped per boot
REPLAY_WINDOW = 32  # RFC 8613 s7.4 default

EV_SEQ_NEW = "oscore_seq_new"
EV_CONTEXT_LOST = "oscore_context_lost"
EV_SEQ_EXHAUSTED = "oscore_seq_exhausted"
EV_STORE_FAILED = "oscore_store_failed"
EV_REPLAY_READY = "oscore_replay_ready"


class Binding:
    """What a request leaves for its response (s5.4, s8.3): the request's kid and Partial IV
    (they go into the response's AAD) and whether the response may reuse the request's nonce
    (once, and never for a request whose freshness is unproven)."""

    def __init__(self, kid, piv, reuse):
        self.kid = kid
        self.piv = piv
        self.reuse = reuse


def _check_id(name, v):
    if not isinstance(v, (bytes, bytearray)):
        raise ValueError("%s: expected bytes, got %s" % (name, type(v).__name__))
    if len(v) > _MAX_ID_LEN:
        raise ValueError("%s: expected at most %d bytes for AES-CCM-16-64-128, got %d"
                         % (name, _MAX_ID_LEN, len(v)))
    return bytes(v)


class SecurityContext:
    """Derives the keys (s3.2) and protects/unprotects messages.

    master_secret, master_salt, sender_id, recipient_id, id_context: bytes (id_context None
    when not used); store: a seqstore (FileSeqStore on the board); seq_block: how far ahead the
    sequence number is persisted; replay_size: the replay window; on_event(kind, detail)."""

    def __init__(self, master_secret, sender_id, recipient_id, master_salt=b"", id_context=None,
                 store=None, seq_block=SEQ_BLOCK, replay_size=REPLAY_WINDOW, on_event=None,
                 send_kid_context=True):
        if not isinstance(master_secret, (bytes, bytearray)) or len(master_secret) < 16:
            raise ValueError("master_secret: expected at least 16 bytes, got %s"
                             % (len(master_secret) if isinstance(master_secret,
                                                                 (bytes, bytearray))
                                else type(master_secret).__name__))
        self.sender_id = _check_id("sender_id", sender_id)
        self.recipient_id = _check_id("recipient_id", recipient_id)
        if self.sender_id == self.recipient_id:
            raise ValueError("sender_id and recipient_id: must differ, both are %s"
                             % _hex(self.sender_id))
        if id_context is not None:
            if not isinstance(id_context, (bytes, bytearray)) or len(id_context) > 255:
                raise ValueError("id_context: expected at most 255 bytes")
            id_context = bytes(id_context)
        if seq_block < 1:
            raise ValueError("seq_block: expected at least 1, got %d" % seq_block)
        self.id_context = id_context
        self.send_kid_context = send_kid_context
        salt = bytes(master_salt or b"")
        prk = hkdf.extract(salt, bytes(master_secret))
        self.sender_key = hkdf.expand(
            prk, wire.info(self.sender_id, id_context, "Key", _KEY_LEN), _KEY_LEN)
        self.recipient_key = hkdf.expand(
            prk, wire.info(self.recipient_id, id_context, "Key", _KEY_LEN), _KEY_LEN)
        self.common_iv = hkdf.expand(prk, wire.info(b"", id_context, "IV", _NONCE_LEN),
                                     _NONCE_LEN)
        self._seal = Ccm(self.sender_key, _TAG_LEN)
        self._open = Ccm(self.recipient_key, _TAG_LEN)
        self._nonce = bytearray(_NONCE_LEN)
        self._aad = bytearray(wire.AAD_MAX)
        self.window = ReplayWindow(replay_size)
        self.echo = port.urandom(8)  # this boot's Echo challenge (B.1.2)
        self.on_event = on_event
        self.counts = {}  # error kind -> how many messages were refused for it
        self._store = store
        self.seq_block = seq_block
        self.fingerprint = _hex(hkdf.hmac_sha256(self.sender_key, b"gasguard oscore seq"
                                                 + self.sender_id + b"|" + (id_context or b""))
                                [0:8])
        self.lost = None  # why protecting is refused, or None
        self.seq = 0
        self._limit = 0
        self._load_seq()

    # -- sequence numbers (Appendix B.1.1) ---------------------------------------------------
    def _event(self, kind, detail):
        if self.on_event is not None:
            self.on_event(kind, detail)

    def _load_seq(self):
        if self._store is None:
            return
        try:
            rec = self._store.load()
        except Exception as e:  # noqa: BLE001 - any unreadable record means: state lost
            self.lost = "sequence-number record unreadable (%s); re-provision" % e
            self._event(EV_CONTEXT_LOST, self.lost)
            return
        if rec is None or rec[1] != self.fingerprint:
            self.seq = 0
            self._limit = 0
            self._event(EV_SEQ_NEW, "no record" if rec is None else "new context")
        else:
            self.seq = rec[0]
            self._limit = rec[0]

    def _next_seq(self):
        if self.lost is not None:
            raise ContextUnavailable("cannot protect: " + self.lost)
        seq = self.seq
        if seq > SEQ_MAX:
            self.lost = "sequence numbers exhausted at %d; re-provision" % SEQ_MAX
            self._event(EV_SEQ_EXHAUSTED, self.lost)
            raise ContextUnavailable("cannot protect: " + self.lost)
        if seq >= self._limit:
            limit = seq + self.seq_block
            if self._store is not None:
                try:
                    self._store.save(limit, self.fingerprint)
                except Exception as e:  # noqa: BLE001 - never send what we could not reserve
                    msg = "sequence limit %d not written (%s)" % (limit, e)
                    self._event(EV_STORE_FAILED, msg)
                    raise ContextUnavailable("cannot protect: " + msg)
            self._limit = limit
        self.seq = seq + 1
        return seq

    # -- helpers -----------------------------------------------------------------------------
    def _make_nonce(self, id_piv, piv):
        # s5.2: (size of ID | ID left-padded to 7 | PIV left-padded to 5) xor Common IV
        nonce = self._nonce
        iv = self.common_iv
        for i in range(_NONCE_LEN):
            nonce[i] = 0
        nonce[0] = len(id_piv)
        off = _NONCE_LEN - 5 - len(id_piv)
        for i in range(len(id_piv)):
            nonce[off + i] = id_piv[i]
        off = _NONCE_LEN - len(piv)
        for i in range(len(piv)):
            nonce[off + i] = piv[i]
        for i in range(_NONCE_LEN):
            nonce[i] ^= iv[i]
        return nonce

    def refuse(self, err):
        """Count a refusal in `counts` and return the error, for `raise ctx.refuse(...)`
        (the CoAP layer uses it for the messages it refuses itself, e.g. unprotected)."""
        k = err.kind
        self.counts[k] = self.counts.get(k, 0) + 1
        return err

    def _seal_message(self, nonce_id, nonce_piv, req_kid, req_piv, code, options, payload):
        buf, n = wire.plaintext_into(code, options, payload, _TAG_LEN)
        alen = wire.aad_into(self._aad, req_kid, req_piv)
        self._seal.seal_into(self._make_nonce(nonce_id, nonce_piv), self._aad, buf, n, alen)
        return buf

    def _open_message(self, nonce_id, nonce_piv, req_kid, req_piv, payload, what):
        n = len(payload) - _TAG_LEN
        if n < 1:
            raise self.refuse(DecryptionFailed(
                "%s: ciphertext of %d bytes, expected at least %d (code + tag)"
                % (what, len(payload), _TAG_LEN + 1)))
        buf = bytearray(payload)
        try:
            alen = wire.aad_into(self._aad, req_kid, req_piv)
            self._open.open_into(self._make_nonce(nonce_id, nonce_piv), self._aad, buf, n,
                                 alen)
        except DecryptionFailed as e:
            raise self.refuse(DecryptionFailed("%s: %s (kid %s, Partial IV %s)" % (
                what, e.message, _hex(req_kid), _hex(req_piv))))
        return buf, n

    def _decode(self, buf, n, what):
        try:
            return wire.decode_plaintext(buf, n)
        except DecodeFailed as e:
            raise self.refuse(DecodeFailed("%s: %s" % (what, e.message)))

    def _option(self, value, what):
        try:
            return wire.decode_option(value)
        except BadOption as e:
            raise self.refuse(BadOption("%s: %s" % (what, e.message)))

    # -- requests ----------------------------------------------------------------------------
    def protect_request(self, code, options, payload):
        """(outer_code, oscore_option_value, ciphertext, binding) for a request with Class E
        `options` [(number, bytes)]; keep `binding` to unprotect the response."""
        piv = wire.piv_bytes(self._next_seq())
        kid_context = self.id_context if self.send_kid_context else None
        buf = self._seal_message(self.sender_id, piv, self.sender_id, piv, code, options,
                                 payload)
        outer = _POST
        for num, _ in options:
            if num == _OBSERVE:
                outer = _FETCH
        return (outer, wire.encode_option(piv, self.sender_id, kid_context), buf,
                Binding(self.sender_id, piv, False))

    def unprotect_request(self, option_value, payload):
        """(code, options, payload, binding) of a protected request, or an OscoreError whose
        `code` is the response to send (EchoRequired: a protected one, see errors.py)."""
        piv, kid, kid_context = self._option(option_value, "request")
        if piv is None:
            raise self.refuse(BadOption("request: OSCORE option without a Partial IV"))
        if kid is None:
            raise self.refuse(BadOption("request: OSCORE option without a kid"))
        if kid != self.recipient_id:
            raise self.refuse(ContextNotFound("request: kid %s is not our recipient ID %s"
                                               % (_hex(kid), _hex(self.recipient_id))))
        if kid_context is not None and kid_context != self.id_context:
            raise self.refuse(ContextNotFound("request: kid context %s is not ours (%s)" % (
                _hex(kid_context), _hex(self.id_context))))
        seq = wire.piv_int(piv)
        ready = self.window.ready
        if ready and not self.window.fresh(seq):
            raise self.refuse(ReplayDetected(
                "request: Partial IV %d already seen or below the window (highest %d)"
                % (seq, self.window.top)))
        buf, n = self._open_message(kid, piv, kid, piv, payload, "request")
        if ready:
            self.window.mark(seq)
            code, options, plain = self._decode(buf, n, "request")
            return code, options, plain, Binding(kid, piv, True)
        code, options, plain = self._decode(buf, n, "request")
        for num, value in options:
            if num == wire.OPTION_ECHO and value == self.echo:
                self.window.init_seen(seq)
                self._event(EV_REPLAY_READY, "replay window starts at %d" % seq)
                return code, options, plain, Binding(kid, piv, True)
        raise self.refuse(EchoRequired(
            "request: Partial IV %d cannot be checked for replay since boot; Echo sent" % seq,
            Binding(kid, piv, False), self.echo))

    # -- responses ---------------------------------------------------------------------------
    def protect_response(self, binding, code, options, payload):
        """(outer_code, oscore_option_value, ciphertext) answering the request of `binding`.
        Reuses the request's nonce once when allowed, else takes a fresh Partial IV (s8.3)."""
        if binding.reuse:
            binding.reuse = False
            piv = None
            buf = self._seal_message(binding.kid, binding.piv, binding.kid, binding.piv, code,
                                     options, payload)
        else:
            piv = wire.piv_bytes(self._next_seq())
            buf = self._seal_message(self.sender_id, piv, binding.kid, binding.piv, code,
                                     options, payload)
        outer = _CHANGED
        for num, _ in options:
            if num == _OBSERVE:
                outer = _CONTENT
        return outer, wire.encode_option(piv, None, None), buf

    def unprotect_response(self, binding, option_value, payload):
        """(code, options, payload) of the protected response to the request of `binding`;
        an OscoreError when it fails (s8.4: drop the response, never answer it)."""
        piv, kid, kid_context = self._option(option_value, "response")
        if kid is not None and kid != self.recipient_id:
            raise self.refuse(ContextNotFound("response: kid %s is not our recipient ID %s"
                                               % (_hex(kid), _hex(self.recipient_id))))
        if kid_context is not None and kid_context != self.id_context:
            raise self.refuse(ContextNotFound("response: kid context %s is not ours (%s)" % (
                _hex(kid_context), _hex(self.id_context))))
        if piv is None:
            buf, n = self._open_message(binding.kid, binding.piv, binding.kid, binding.piv,
                                        payload, "response")
        else:
            buf, n = self._open_message(self.recipient_id, piv, binding.kid, binding.piv,
                                        payload, "response")
        return self._decode(buf, n, "response")


def echo_challenge(code, options):
    """The Echo value when a response is the peer's 4.01 + Echo (its replay window restarted,
    Appendix B.1.2): repeat the request with (252, value) added to its options. Else None."""
    if code != _UNAUTHORIZED:
        return None
    for num, value in options:
        if num == wire.OPTION_ECHO:
            return value
    return None


def _hex(b):
    if b is None:
        return "none"
    if not b:
        return "(empty)"
    return "".join("%02x" % x for x in b)


def _unhex(name, v, required):
    if v is None or v == "":
        if required:
            raise ValueError("oscore.%s: missing (expected hex)" % name)
        return None if v is None else b""
    if not isinstance(v, str):
        raise ValueError("oscore.%s: expected a hex string, got %s" % (name, type(v).__name__))
    import binascii

    try:
        return binascii.unhexlify(v)
    except (ValueError, TypeError):
        raise ValueError("oscore.%s: expected hex, got %r" % (name, v))


def from_config(section, store=None, on_event=None):
    """A SecurityContext from /config.json's "oscore" section (docs/oscore.md):
    {"master_secret": hex, "master_salt": hex?, "sender_id": hex, "recipient_id": hex,
     "id_context": hex?, "seq_block": int?, "replay_window": int?}. ValueError names the key."""
    if not isinstance(section, dict):
        raise ValueError("oscore: expected an object, got %s" % type(section).__name__)
    secret = _unhex("master_secret", section.get("master_secret"), True)
    salt = _unhex("master_salt", section.get("master_salt"), False) or b""
    sid = _unhex("sender_id", section.get("sender_id"), False)
    rid = _unhex("recipient_id", section.get("recipient_id"), False)
    if sid is None:
        raise ValueError("oscore.sender_id: missing (expected hex, \"\" for the empty ID)")
    if rid is None:
        raise ValueError("oscore.recipient_id: missing (expected hex, \"\" for the empty ID)")
    ctx = section.get("id_context")
    ctx = None if ctx is None else _unhex("id_context", ctx, False)
    block = section.get("seq_block", SEQ_BLOCK)
    window = section.get("replay_window", REPLAY_WINDOW)
    for name, v in (("seq_block", block), ("replay_window", window)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError("oscore.%s: expected a positive integer, got %r" % (name, v))
    try:
        return SecurityContext(secret, sid, rid, master_salt=salt, id_context=ctx, store=store,
                               seq_block=block, replay_size=window, on_event=on_event)
    except ValueError as e:
        raise ValueError("oscore.%s" % e)


__all__ = ("SecurityContext", "Binding", "echo_challenge", "from_config")
