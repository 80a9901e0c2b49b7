# A device-side OSCORE peer for the aiocoap interop tests, run by the real MicroPython binary:
# our OSCORE context, firmware/coap.Message for the CoAP framing, and a plain UDP socket.
#
#   micropython oscore_udp_peer.py client <port> <seq_path> <count> [<sender_id> <id_context>]
#   micropython oscore_udp_peer.py server <port> <seq_path> <count>
# (client: uplinks to aiocoap; server: answers aiocoap's requests; IDs in hex, "-" for none)
#
# It prints one line per exchange ("RESP ...", "REQ ...", "ECHO ...", "REFUSED ...") for the
# test to check, and "DONE" at the end. Kept minimal: the real endpoint is firmware/coap*.
import socket
import sys

from firmware import coap
from firmware.oscore import FileSeqStore, OscoreError, SecurityContext, echo_challenge
from firmware.oscore.errors import EchoRequired, Unprotected
from firmware.oscore.wire import split_options

SECRET = b"\x5a\xe2\xb7\xc1\xd2\xf0\xaa\x11\x93\x04\x57\xcf\x0e\x6d\x8b\x21"
SALT = b"\xc0\xff\xee\x00\x11\x22\x33\x44"
DEVICE_ID = b"\x2a"
FLEET_ID = b""
OSCORE = 9
ECHO = 252
HEARTBEAT = bytes(range(100))


def hx(b):
    return "".join("%02x" % x for x in b)


def context(seq_path, sender_id=DEVICE_ID, id_context=None):
    return SecurityContext(SECRET, sender_id, FLEET_ID, master_salt=SALT, id_context=id_context,
                           store=FileSeqStore(seq_path), seq_block=4,
                           on_event=lambda k, d: print("EVENT", k))


def addr(port):
    return socket.getaddrinfo("127.0.0.1", port)[0][-1]


datagram = [b""]  # the last request sent, for its size


def exchange(sock, peer, ctx, mid, options, payload):
    """One CON POST /hb, protected; returns (code, options, payload) of the response."""
    inner, outer_opts = split_options(options)
    code, opt, ct, binding = ctx.protect_request(coap.N.POST, inner, payload)
    m = coap.Message(coap.N.CON, code, mid, b"\x70" + bytes((mid & 0xFF,)), bytes(ct))
    for o in outer_opts:
        m.options.append(o)
    m.options.append((OSCORE, bytes(opt)))
    datagram[0] = m.encode()
    sock.sendto(datagram[0], peer)
    while True:
        data, _ = sock.recvfrom(1500)
        r = coap.Message.decode(data)
        if r.mid == mid and r.token == m.token:
            break
    return ctx.unprotect_response(binding, r.option(OSCORE) or b"", r.payload)


def client(port, seq_path, count, sender_id=DEVICE_ID, id_context=None):
    ctx = context(seq_path, sender_id, id_context)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    peer = addr(port)
    for i in range(count):
        options = [(11, b"hb"), (12, b"\x70")]
        code, ropts, payload = exchange(sock, peer, ctx, 100 + i, options, HEARTBEAT)
        echo = echo_challenge(code, ropts)
        if echo is not None:
            print("ECHO", hx(echo))
            code, ropts, payload = exchange(sock, peer, ctx, 200 + i,
                                            options + [(ECHO, echo)], HEARTBEAT)
        print("RESP", code, hx(payload), ctx.seq, "wire", len(datagram[0]))
    print("DONE")


def server(port, seq_path, count):
    ctx = context(seq_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(addr(port))
    sock.settimeout(10)
    print("READY")
    done = 0
    while done < count:
        data, remote = sock.recvfrom(1500)
        req = coap.Message.decode(data)
        ack = coap.Message(coap.N.ACK, coap.N.CHANGED, req.mid, req.token)
        opt = req.option(OSCORE)
        try:
            if opt is None:
                raise Unprotected("request without an OSCORE option")
            code, options, payload, binding = ctx.unprotect_request(opt, req.payload)
        except EchoRequired as e:
            print("ECHO", e.message)
            code, ropt, ct = ctx.protect_response(e.binding, e.code, [(ECHO, e.echo)], b"")
            ack.code = code
            ack.payload = bytes(ct)
            ack.options.append((OSCORE, bytes(ropt)))
            sock.sendto(ack.encode(), remote)
            continue
        except OscoreError as e:
            print("REFUSED", e.code, e.message)
            ack.code = e.code
            ack.payload = e.payload()
            ack.options.append((14, b""))  # Max-Age 0
            sock.sendto(ack.encode(), remote)
            continue
        path = "/".join(v.decode() for n, v in options if n == 11)
        print("REQ", code, path, hx(payload))
        rcode, ropt, ct = ctx.protect_response(binding, coap.N.CHANGED, [(12, b"\x3c")],
                                               b"\xa1\x00\xf5")
        ack.code = rcode
        ack.payload = bytes(ct)
        ack.options.append((OSCORE, bytes(ropt)))
        sock.sendto(ack.encode(), remote)
        done += 1
    print("DONE")


if __name__ == "__main__":
    import binascii

    _mode, _port, _path, _count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if _mode == "client" and len(sys.argv) > 6:
        _sid = b"" if sys.argv[5] == "-" else binascii.unhexlify(sys.argv[5])
        _cid = None if sys.argv[6] == "-" else binascii.unhexlify(sys.argv[6])
        client(_port, _path, _count, _sid, _cid)
    else:
        (client if _mode == "client" else server)(_port, _path, _count)
