# runs-on: micropython cpython
"""The CoAP message and token layers on an injected clock: RFC 7252 retransmission timing,
duplicate detection, piggy-backed and separate responses, errors as codes."""
from firmware.coap import Message, NotFound, RequestTimedOut, ResetReceived
from firmware.coapnet import Endpoint, Resource, Site
from fw_fakes import Clock
from protocol import coap_numbers as N

PEER = b"peer-sockaddr"


class FakeSock:
    def __init__(self, clock):
        self.clock = clock
        self.sent = []  # (time, data, remote)

    def sendto(self, data, remote):
        self.sent.append((self.clock.now, data, remote))


def make(site=None, rand=0):
    clock = Clock(1000)
    sock = FakeSock(clock)
    ep = Endpoint(sock, site, clock=clock, rand=lambda: rand)
    return ep, sock, clock


def test_con__retransmits_at_2_4_8_16_s_then_gives_up_at_62_s():
    ep, sock, clock = make(rand=0)  # random factor 1.0: ACK_TIMEOUT exactly
    req = ep.request(N.POST, ("gg", "ev"), b"x", cf=60, remote=PEER)
    for t in range(1000, 1000 + 61000, 100):
        clock.now = t
        ep.tick()
    times = [s[0] - 1000 for s in sock.sent]
    assert times == [0, 2000, 6000, 14000, 30000]  # 4 retransmissions, doubling from 2 s
    assert len(set(s[1] for s in sock.sent)) == 1  # the same bytes (same MID) each time
    assert req.error is None  # still waiting 32 s after the last retransmission
    clock.now = 1000 + 62000
    ep.tick()
    assert isinstance(req.error, RequestTimedOut)
    assert ep.stats["retransmits"] == 4 and ep.stats["timeouts"] == 1


def test_con__random_factor_stretches_the_first_timeout_up_to_1_5():
    ep, sock, clock = make(rand=255)
    ep.request(N.POST, ("gg", "hb"), b"", remote=PEER)
    for t in range(1000, 1000 + 10000, 50):
        clock.now = t
        ep.tick()
    assert [s[0] - 1000 for s in sock.sent] == [0, 3000, 9000]


def test_con__piggybacked_ack_ends_the_exchange():
    ep, sock, clock = make()
    req = ep.request(N.POST, ("gg", "ev"), b"x", remote=PEER)
    sent = Message.decode(sock.sent[0][1])
    ack = Message(N.ACK, N.CHANGED, sent.mid, sent.token, b"\xa0", cf=60)
    ep.datagram(ack.encode(), PEER)
    assert req.response.code == N.CHANGED and req.response.payload == b"\xa0"
    clock.now += 60000
    ep.tick()
    assert len(sock.sent) == 1  # nothing retransmitted after the ACK


def test_con__empty_ack_then_separate_response_matched_by_token():
    ep, sock, clock = make()
    req = ep.request(N.POST, ("gg", "ev"), b"x", remote=PEER)
    sent = Message.decode(sock.sent[0][1])
    ep.datagram(Message(N.ACK, N.EMPTY, sent.mid).encode(), PEER)
    assert req.acked and req.response is None
    clock.now += 10000
    ep.tick()
    assert len(sock.sent) == 1  # acked: no retransmission
    sep = Message(N.CON, N.CHANGED, 0x7777, sent.token, b"ok")
    ep.datagram(sep.encode(), PEER)
    assert req.response.payload == b"ok"
    ack = Message.decode(sock.sent[-1][1])
    assert (ack.mtype, ack.code, ack.mid) == (N.ACK, N.EMPTY, 0x7777)
    ep.datagram(sep.encode(), PEER)  # the peer retransmits: ACKed again, delivered once
    assert Message.decode(sock.sent[-1][1]).mid == 0x7777
    assert ep.stats["duplicates"] == 1


def test_con__rst_fails_the_request():
    ep, sock, clock = make()
    req = ep.request(N.POST, ("gg", "ev"), b"x", remote=PEER)
    mid = Message.decode(sock.sent[0][1]).mid
    ep.datagram(Message(N.RST, N.EMPTY, mid).encode(), PEER)
    assert isinstance(req.error, ResetReceived)


def test_con__an_ack_from_another_remote_is_ignored():
    ep, sock, clock = make()
    req = ep.request(N.POST, ("gg", "ev"), b"x", remote=PEER)
    sent = Message.decode(sock.sent[0][1])
    ep.datagram(Message(N.ACK, N.CHANGED, sent.mid, sent.token).encode(), b"someone-else")
    assert req.response is None


class Counter(Resource):
    def __init__(self):
        self.calls = 0

    def render_post(self, request):
        self.calls += 1
        return N.CHANGED, b"n=%d" % self.calls, 0


class Broken(Resource):
    def render_get(self, request):
        raise ValueError("bug")


def site():
    s = Site()
    c = Counter()
    s.add(("valve", "close"), c)
    s.add(("broken",), Broken())
    return s, c


def test_server__duplicate_con_is_answered_from_cache_without_running_twice():
    s, counter = site()
    ep, sock, clock = make(site=s)
    req = Message(N.CON, N.POST, 0x0101, b"\x05", b"", path=("valve", "close"))
    ep.datagram(req.encode(), PEER)
    ep.datagram(req.encode(), PEER)
    assert counter.calls == 1
    assert sock.sent[0][1] == sock.sent[1][1]
    resp = Message.decode(sock.sent[0][1])
    assert (resp.mtype, resp.code, resp.mid, resp.token, resp.payload) == (
        N.ACK, N.CHANGED, 0x0101, b"\x05", b"n=1")
    # the same MID from another remote is another exchange
    ep.datagram(req.encode(), b"other")
    assert counter.calls == 2
    # after EXCHANGE_LIFETIME (247 s) the MID may be reused
    clock.now += 248000
    ep.datagram(req.encode(), PEER)
    assert counter.calls == 3


def test_server__errors_become_codes():
    s, counter = site()
    ep, sock, clock = make(site=s)
    cases = (
        (N.GET, ("nothing",), N.NOT_FOUND),
        (N.GET, ("valve", "close"), N.METHOD_NOT_ALLOWED),
        (N.GET, ("broken",), N.INTERNAL_SERVER_ERROR),
    )
    for i, (code, path, want) in enumerate(cases):
        ep.datagram(Message(N.CON, code, 100 + i, b"\x01", path=path).encode(), PEER)
        assert Message.decode(sock.sent[-1][1]).code == want, path
    assert NotFound().code == N.NOT_FOUND


def test_server__ping_gets_rst_and_garbage_con_gets_rst():
    ep, sock, clock = make()
    ep.datagram(Message(N.CON, N.EMPTY, 42).encode(), PEER)
    r = Message.decode(sock.sent[-1][1])
    assert (r.mtype, r.mid) == (N.RST, 42)
    ep.datagram(bytes.fromhex("400100 2bf0".replace(" ", "")), PEER)
    r = Message.decode(sock.sent[-1][1])
    assert (r.mtype, r.mid) == (N.RST, 0x2B)


def test_endpoint__use_after_deinit_says_so():
    from utils.dual import raises

    ep, sock, clock = make()
    req = ep.request(N.POST, ("gg", "ev"), b"x", remote=PEER)
    sock.close = lambda: None
    ep.deinit()
    assert isinstance(req.error, RequestTimedOut)  # a waiting request is released
    e = raises(RuntimeError, ep.request, N.POST, ("gg", "ev"), b"x", None, PEER)
    assert str(e) == "coap endpoint: used after deinit()"
