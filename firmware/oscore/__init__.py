# OSCORE (RFC 8613) for the device: AES-CCM-16-64-128 on cryptolib's AES-ECB, HKDF-SHA-256 on
# hashlib, the security context with its persisted sequence number and replay window, and
# protect/unprotect of requests and responses. docs/oscore.md is the guide; the modules:
#
#   port.py      AES-ECB and random bytes (cryptolib on MicroPython, `cryptography` on CPython)
#   ccm.py       AES-CCM (RFC 3610) on ECB
#   hkdf.py      HMAC-SHA-256, HKDF-SHA-256
#   wire.py      OSCORE option, plaintext, AAD and info encodings
#   replay.py    the recipient's replay window
#   seqstore.py  the sender sequence number's durable limit (Appendix B.1.1)
#   context.py   SecurityContext: derivation, protect/unprotect, Echo recovery (B.1.2)
#   coapmsg.py   the same four steps on whole message objects (firmware/coap.Message)
#   errors.py    OscoreError and its subclasses, each with its CoAP response code
from firmware.oscore.context import (
    Binding,
    SecurityContext,
    echo_challenge,
    from_config,
)
from firmware.oscore.errors import OscoreError
from firmware.oscore.seqstore import FileSeqStore

__all__ = ("Binding", "SecurityContext", "echo_challenge", "from_config", "OscoreError",
           "FileSeqStore")
