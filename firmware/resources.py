# The device's own CoAP resources (docs/protocol.md, "device" rows of protocol/paths.py):
# GET /health, POST /selftest, POST /valve/close, POST /cmd, GET /.well-known/core. Each is a
# coapnet.Resource with render_get/render_post; a bad body raises BadRequest (4.00) and the
# endpoint turns it into the response.
from firmware.coap import BadRequest, UnsupportedContentFormat
from firmware.coapnet import Resource, Site
from protocol import coap_numbers as N
from protocol import messages, paths


def _command(request, required):
    if not request.payload:
        if required:
            raise BadRequest("command: expected a CBOR map, got nothing")
        return None
    cf = request.cf
    if cf is not None and cf != N.CF_CBOR:
        raise UnsupportedContentFormat("command: expected content-format 60, got %d" % cf)
    try:
        return messages.decode("command", request.payload)
    except ValueError as e:
        raise BadRequest(str(e))


def _result(res):
    return N.CHANGED, messages.encode("command_result", res), N.CF_CBOR


class Health(Resource):
    def __init__(self, health):
        self.health = health

    def render_get(self, request):
        return N.CONTENT, messages.encode("heartbeat", self.health()), N.CF_SENML_CBOR


class OpResource(Resource):
    """POST with an optional command body runs one op (through Commands, so ids dedupe)."""

    def __init__(self, commands, op, local_ids):
        self.commands = commands
        self.op = op
        self.local_ids = local_ids  # a counter for requests without a command id

    def render_post(self, request):
        cmd = _command(request, False)
        if cmd is None:
            self.local_ids[0] += 1
            cmd = {"id": 0x40000000 + self.local_ids[0], "op": self.op}
        elif cmd["op"] != self.op:
            raise BadRequest("command.op: expected %s here, got %s" % (self.op, cmd["op"]))
        return _result(self.commands.run(cmd))


class Cmd(Resource):
    def __init__(self, commands):
        self.commands = commands

    def render_post(self, request):
        return _result(self.commands.run(_command(request, True)))


class WellKnownCore(Resource):
    def render_get(self, request):
        return N.CONTENT, paths.link_format(paths.DEVICE).encode(), N.CF_LINK_FORMAT


def site(health, commands):
    s = Site()
    ids = [0]
    s.add(paths.HEALTH, Health(health))
    s.add(paths.SELFTEST, OpResource(commands, "selftest", ids))
    s.add(paths.VALVE_CLOSE, OpResource(commands, "close_valve", ids))
    s.add(paths.COMMAND, Cmd(commands))
    s.add(paths.WELL_KNOWN_CORE, WellKnownCore())
    return s
