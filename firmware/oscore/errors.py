# OSCORE errors: one base class, one subclass per way a message can be refused, each with the
# CoAP response code RFC 8613 section 8.2 gives for it and the diagnostic payload it suggests.
#
#   BadOption           4.02  the OSCORE option or COSE object does not decode (s8.2 step 2)
#   ContextNotFound     4.01  kid / kid context name no context we hold (s8.2 step 2)
#   Unprotected         4.01  a request without an OSCORE option for a protected resource
#   ReplayDetected      4.01  the Partial IV was seen before or is below the window (s7.4)
#   EchoRequired        4.01  the replay window is not yet initialised after boot: answer with
#                             a *protected* 4.01 carrying Echo (Appendix B.1.2); see .binding
#   DecryptionFailed    4.00  the AEAD tag does not verify (s8.2 step 6, s8.4 step 5)
#   DecodeFailed        4.00  the decrypted plaintext is not a CoAP code + options + payload
#   ContextUnavailable  5.03  we must not protect: sequence numbers exhausted, or their state was
#                             lost (re-provision; Appendix B.2). Nothing is sent.
#
# Only EchoRequired is answered with a protected response; every other error of a request is
# answered unprotected, with `payload()` (the RFC's diagnostic text) and an Outer Max-Age 0.
# A response that fails (s8.4) is never answered: the client drops it and counts it.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_BAD_REQUEST = const(128)  # 4.00
_UNAUTHORIZED = const(129)  # 4.01
_BAD_OPTION = const(130)  # 4.02
_SERVICE_UNAVAILABLE = const(163)  # 5.03


class OscoreError(Exception):
    """Base of every OSCORE failure. `code` is the CoAP response code, `message` names the
    problem (for logs and counters), `payload()` the RFC 8613 diagnostic for the response."""

    code = _BAD_REQUEST
    diagnostic = "OSCORE error"
    kind = "error"  # short name for per-device counters

    def __init__(self, message=""):
        super().__init__(message)
        self.message = message

    def payload(self):
        return self.diagnostic.encode()


class BadOption(OscoreError):
    code = _BAD_OPTION
    diagnostic = "Failed to decode COSE"
    kind = "bad_option"


class ContextNotFound(OscoreError):
    code = _UNAUTHORIZED
    diagnostic = "Security context not found"
    kind = "unknown_context"


class Unprotected(OscoreError):
    code = _UNAUTHORIZED
    diagnostic = "OSCORE required"
    kind = "unprotected"


class ReplayDetected(OscoreError):
    code = _UNAUTHORIZED
    diagnostic = "Replay detected"
    kind = "replay"


class EchoRequired(OscoreError):
    """The request decrypted, but its freshness cannot be checked yet (the replay window was
    lost at reboot). Answer `ctx.protect_response(e.binding, 4.01, [(ECHO, e.echo)], b"")`;
    the client repeats the request with that Echo, which initialises the window."""

    code = _UNAUTHORIZED
    diagnostic = "Replay detected"
    kind = "echo_challenge"

    def __init__(self, message, binding, echo):
        super().__init__(message)
        self.binding = binding
        self.echo = echo


class DecryptionFailed(OscoreError):
    code = _BAD_REQUEST
    diagnostic = "Decryption failed"
    kind = "decrypt_failed"


class DecodeFailed(OscoreError):
    code = _BAD_REQUEST
    diagnostic = "Failed to decode plaintext"
    kind = "decode_failed"


class ContextUnavailable(OscoreError):
    code = _SERVICE_UNAVAILABLE
    diagnostic = "Security context unavailable"
    kind = "context_unavailable"
