# OSCORE on whole CoAP message objects: the four steps of docs/oscore.md s3 for an endpoint
# whose messages carry `.code`, `.options` [(number, bytes)] and `.payload` (firmware/coap.Message
# does; nothing here imports it). Each call rewrites the message in place between its plain form
# (what resources see) and its protected form (what goes on the wire), so an endpoint adds OSCORE
# with one call on the way out and one on the way in.
#
# Class U options (Uri-Host, Uri-Port, Proxy-*) stay outside in both forms; everything else
# moves inside. An incoming message that is not protected raises errors.Unprotected (4.01).
from firmware.oscore.errors import Unprotected
from firmware.oscore.wire import OPTION_OSCORE, split_options


def _oscore_option(ctx, msg, what):
    value = None
    for num, v in msg.options:
        if num == OPTION_OSCORE:
            if value is not None:
                raise ctx.refuse(Unprotected("%s: more than one OSCORE option" % what))
            value = v
    if value is None:
        raise ctx.refuse(Unprotected("%s without an OSCORE option" % what))
    return value


def _outer_only(options):
    return [o for o in options if o[0] != OPTION_OSCORE]


def protect_request(ctx, msg):
    """msg becomes the protected request; returns the binding for its response."""
    inner, outer = split_options(msg.options)
    code, opt, ct, binding = ctx.protect_request(msg.code, inner, msg.payload)
    outer.append((OPTION_OSCORE, bytes(opt)))
    msg.code = code
    msg.options = outer
    msg.payload = bytes(ct)
    return binding


def unprotect_request(ctx, msg):
    """msg becomes the plain request; returns its binding. OscoreError when refused."""
    opt = _oscore_option(ctx, msg, "request")
    code, options, payload, binding = ctx.unprotect_request(opt, msg.payload)
    _, outer = split_options(_outer_only(msg.options))
    msg.code = code
    msg.options = outer + options
    msg.payload = payload
    return binding


def protect_response(ctx, binding, msg):
    """msg (a response) becomes its protected form."""
    inner, outer = split_options(msg.options)
    code, opt, ct = ctx.protect_response(binding, msg.code, inner, msg.payload)
    outer.append((OPTION_OSCORE, bytes(opt)))
    msg.code = code
    msg.options = outer
    msg.payload = bytes(ct)


def unprotect_response(ctx, binding, msg):
    """msg becomes the plain response. OscoreError when refused (drop it, never answer)."""
    opt = _oscore_option(ctx, msg, "response")
    code, options, payload = ctx.unprotect_response(binding, opt, msg.payload)
    msg.code = code
    msg.options = options
    msg.payload = payload
