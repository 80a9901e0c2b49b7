# runs-on: micropython cpython
"""The security context against RFC 8613 Appendix C (C.1-C.3 derivation, C.4-C.8 protection),
both roles of every vector; replay window, Echo recovery after reboot, refusals that change no
state, and sequence numbers that survive reboot without reuse."""
from firmware.oscore import context, seqstore
from firmware.oscore.context import SecurityContext, echo_challenge, from_config
from firmware.oscore.errors import (
    BadOption,
    ContextNotFound,
    ContextUnavailable,
    DecryptionFailed,
    EchoRequired,
    ReplayDetected,
)
from oscore_helpers import (
    ID_CONTEXT,
    MASTER_SALT,
    MASTER_SECRET,
    MemorySeqStore,
    h,
    hx,
    raises,
    tmpdir,
)

ECHO = 252


def pair(salt=MASTER_SALT, cid=None, client_id=b"", server_id=b"\x01", **kw):
    client = SecurityContext(MASTER_SECRET, client_id, server_id, master_salt=salt,
                             id_context=cid, **kw)
    server = SecurityContext(MASTER_SECRET, server_id, client_id, master_salt=salt,
                             id_context=cid, **kw)
    return client, server


def test_derivation__appendix_c1_c2_c3_both_roles():
    cases = (  # salt, id context, client id, server id, client key, server key, common IV
        (MASTER_SALT, None, b"", b"\x01", "f0910ed7295e6ad4b54fc793154302ff",
         "ffb14e093c94c9cac9471648b4f98710", "4622d4dd6d944168eefb54987c"),
        (b"", None, b"\x00", b"\x01", "321b26943253c7ffb6003b0b64d74041",
         "e57b5635815177cd679ab4bcec9d7dda", "be35ae297d2dace910c52e99f9"),
        (MASTER_SALT, ID_CONTEXT, b"", b"\x01", "af2a1300a5e95788b356336eeecd2b92",
         "e39a0c7c77b43f03b4b39ab9a268699f", "2ca58fb85ff1b81c0b7181b85e"),
    )
    for salt, cid, cl, sv, ck, sk, iv in cases:
        client, server = pair(salt, cid, cl, sv)
        assert hx(client.sender_key) == ck and hx(client.recipient_key) == sk
        assert hx(server.sender_key) == sk and hx(server.recipient_key) == ck
        assert hx(client.common_iv) == iv and hx(server.common_iv) == iv


def test_nonce__appendix_c1_c2_c3_partial_iv_0():
    cases = ((MASTER_SALT, None, b"", b"\x01", "4622d4dd6d944168eefb54987c",
              "4722d4dd6d944169eefb54987c"),
             (b"", None, b"\x00", b"\x01", "bf35ae297d2dace910c52e99f9",
              "bf35ae297d2dace810c52e99f9"),
             (MASTER_SALT, ID_CONTEXT, b"", b"\x01", "2ca58fb85ff1b81c0b7181b85e",
              "2da58fb85ff1b81d0b7181b85e"))
    for salt, cid, cl, sv, cn, sn in cases:
        client, _ = pair(salt, cid, cl, sv)
        assert hx(client._make_nonce(cl, b"\x00")) == cn
        assert hx(client._make_nonce(sv, b"\x00")) == sn


# C.4-C.6: GET coap://localhost/tv1 with sequence number 20; Uri-Host stays outside
REQUESTS = (  # name, salt, id context, client id, option value, ciphertext, nonce
    ("C.4", MASTER_SALT, None, b"", "0914", "612f1092f1776f1c1668b3825e",
     "4622d4dd6d944168eefb549868"),
    ("C.5", b"", None, b"\x00", "091400", "4ed339a5a379b0b8bc731fffb0",
     "bf35ae297d2dace910c52e99ed"),
    ("C.6", MASTER_SALT, ID_CONTEXT, b"", "19140837cbf3210017a2d3",
     "72cd7273fd331ac45cffbe55c3", "2ca58fb85ff1b81c0b7181b84a"),
)


def test_request__appendix_c4_c5_c6_protect_and_unprotect():
    for name, salt, cid, cl, opt, ct, nonce in REQUESTS:
        client, server = pair(salt, cid, cl)
        client.seq = 20
        outer, got_opt, got_ct, binding = client.protect_request(1, [(11, b"tv1")], b"")
        assert outer == 2, name  # POST
        assert hx(got_opt) == opt, "%s option %s" % (name, hx(got_opt))
        assert hx(got_ct) == ct, "%s ciphertext %s" % (name, hx(got_ct))
        assert hx(client._nonce) == nonce, name
        assert binding.piv == b"\x14" and binding.kid == cl
        server.window.init_empty()
        code, opts, payload, sb = server.unprotect_request(h(opt), h(ct))
        assert (code, opts, payload) == (1, [(11, b"tv1")], b""), name
        assert sb.reuse and sb.piv == b"\x14" and sb.kid == cl


def _c4_exchange():
    client, server = pair()
    client.seq = 20
    _, opt, ct, cb = client.protect_request(1, [(11, b"tv1")], b"")
    server.window.init_empty()
    sb = server.unprotect_request(opt, ct)[3]
    return client, server, cb, sb


def test_response__appendix_c7_reuses_the_request_nonce():
    client, server, cb, sb = _c4_exchange()
    outer, opt, ct = server.protect_response(sb, 69, [], b"Hello World!")
    assert outer == 68  # 2.04 outside
    assert opt == b""
    assert hx(ct) == "dbaad1e9a7e7b2a813d3c31524378303cdafae119106"
    assert client.unprotect_response(cb, opt, ct) == (69, [], b"Hello World!")
    # the nonce is reused once only: a second response takes a fresh Partial IV
    outer, opt2, ct2 = server.protect_response(sb, 69, [], b"Hello World!")
    assert hx(opt2) == "0100"


def test_response__appendix_c8_with_its_own_partial_iv():
    client, server, cb, sb = _c4_exchange()
    sb.reuse = False
    outer, opt, ct = server.protect_response(sb, 69, [], b"Hello World!")
    assert hx(opt) == "0100"
    assert hx(ct) == "4d4c13669384b67354b2b6175ff4b8658c666a6cf88e"
    assert client.unprotect_response(cb, opt, ct) == (69, [], b"Hello World!")


def test_response__bound_to_its_request():
    client, server, cb, sb = _c4_exchange()
    _, opt, ct = server.protect_response(sb, 69, [], b"ok")
    _, _, _, other = client.protect_request(1, [(11, b"tv1")], b"")
    e = raises(DecryptionFailed, client.unprotect_response, other, opt, ct)
    assert e.message == "response: AES-CCM tag mismatch (kid (empty), Partial IV 15)"


def test_replay__window_of_32():
    client, server = pair()
    server.window.init_empty()
    sent = {}
    for seq in (20, 19, 60, 29, 28, 61):
        client.seq = seq
        sent[seq] = client.protect_request(2, [(11, b"a")], b"x")[1:3]
    for seq in (20, 19, 60, 29):
        assert server.unprotect_request(*sent[seq])[0] == 2, seq
    e = raises(ReplayDetected, server.unprotect_request, *sent[20])
    assert e.message == "request: Partial IV 20 already seen or below the window (highest 60)"
    assert e.code == 129 and e.payload() == b"Replay detected"
    raises(ReplayDetected, server.unprotect_request, *sent[60])
    raises(ReplayDetected, server.unprotect_request, *sent[29])
    raises(ReplayDetected, server.unprotect_request, *sent[28])  # 60 - 32: too old
    assert server.unprotect_request(*sent[61])[0] == 2
    assert server.counts == {"replay": 4}


def test_refusals__change_no_state():
    client, server = pair()
    server.window.init_empty()
    client.seq = 5
    _, opt, ct, _ = client.protect_request(2, [(11, b"valve"), (11, b"close")], b"")
    forged = bytearray(ct)
    forged[0] ^= 1
    e = raises(DecryptionFailed, server.unprotect_request, opt, bytes(forged))
    assert e.code == 128 and e.payload() == b"Decryption failed"
    assert e.message == "request: AES-CCM tag mismatch (kid (empty), Partial IV 05)"
    assert server.window.top == -1  # not marked: the genuine one still goes through
    # a wrong key: same IDs, another Master Secret
    stranger = SecurityContext(b"\x99" * 16, b"", b"\x01", master_salt=MASTER_SALT)
    stranger.seq = 6
    _, sopt, sct, _ = stranger.protect_request(2, [(11, b"valve")], b"")
    raises(DecryptionFailed, server.unprotect_request, sopt, sct)
    assert server.window.top == -1
    assert server.unprotect_request(opt, ct)[1] == [(11, b"valve"), (11, b"close")]
    assert server.counts == {"decrypt_failed": 2}


def test_refusals__kid_context_and_option_errors():
    client, server = pair()
    server.window.init_empty()
    _, opt, ct, _ = client.protect_request(2, [], b"")
    e = raises(ContextNotFound, server.unprotect_request, h("0900") + b"\x07", ct)
    assert e.message == "request: kid 07 is not our recipient ID (empty)"
    assert e.code == 129 and e.payload() == b"Security context not found"
    e = raises(ContextNotFound, server.unprotect_request, h("19000101"), ct)
    assert e.message == "request: kid context 01 is not ours (none)"
    e = raises(BadOption, server.unprotect_request, h("0800"), ct)
    assert e.message == "request: OSCORE option without a Partial IV"
    e = raises(BadOption, server.unprotect_request, h("0100"), ct)
    assert e.message == "request: OSCORE option without a kid"
    e = raises(BadOption, server.unprotect_request, b"", ct)
    assert e.message == "request: OSCORE option without a Partial IV"
    e = raises(BadOption, server.unprotect_request, h("ff"), ct)
    assert e.message == "request: OSCORE option: reserved flag bits set (0xff)"
    assert e.code == 130 and e.payload() == b"Failed to decode COSE"
    e = raises(DecryptionFailed, server.unprotect_request, opt, ct[0:8])
    assert e.message == "request: ciphertext of 8 bytes, expected at least 9 (code + tag)"
    assert server.counts == {"unknown_context": 2, "bad_option": 4, "decrypt_failed": 1}


def test_echo__replay_window_restarts_after_reboot():
    events = []
    client, _ = pair()
    server = SecurityContext(MASTER_SECRET, b"\x01", b"", master_salt=MASTER_SALT,
                             on_event=lambda k, d: events.append((k, d)))
    client.seq = 40
    _, opt, ct, cb = client.protect_request(2, [(11, b"valve")], b"close")
    # a request recorded before the reboot, replayed now: it authenticates but is not acted on
    e = raises(EchoRequired, server.unprotect_request, opt, ct)
    assert e.code == 129 and e.echo == server.echo and len(e.echo) == 8
    assert not e.binding.reuse  # freshness unproven: the answer takes its own Partial IV
    outer, ropt, rct = server.protect_response(e.binding, 129, [(ECHO, e.echo)], b"")
    assert hx(ropt) == "0100"
    code, opts, _ = client.unprotect_response(cb, ropt, rct)
    echo = echo_challenge(code, opts)
    assert echo == server.echo
    # the client repeats with the Echo: accepted, and the window starts there
    _, opt2, ct2, _ = client.protect_request(2, [(11, b"valve"), (ECHO, echo)], b"close")
    code, opts, payload, b2 = server.unprotect_request(opt2, ct2)
    assert (code, payload, b2.reuse) == (2, b"close", True)
    assert events == [("oscore_replay_ready", "replay window starts at 41")]
    raises(ReplayDetected, server.unprotect_request, opt, ct)
    raises(ReplayDetected, server.unprotect_request, opt2, ct2)
    assert echo_challenge(69, [(ECHO, b"x")]) is None
    assert echo_challenge(129, []) is None


def test_echo__a_stale_echo_value_is_challenged_again():
    client, server = pair()
    _, opt, ct, _ = client.protect_request(2, [(ECHO, b"\x00" * 8)], b"")
    raises(EchoRequired, server.unprotect_request, opt, ct)
    assert not server.window.ready


def seen_pivs(ctx, n):
    out = []
    for _ in range(n):
        out.append(bytes(ctx.protect_request(2, [], b"hb")[1]))
    return out


def test_seq__survives_reboot_without_reuse():
    root = tmpdir("seq")
    path = root + "/oscore.seq"
    events = []

    def boot():
        return SecurityContext(MASTER_SECRET, b"\x07", b"", store=seqstore.FileSeqStore(path),
                               seq_block=4, on_event=lambda k, d: events.append(k))

    used = []
    ctx = boot()
    assert events == ["oscore_seq_new"]
    used += seen_pivs(ctx, 10)  # 0..9; limits written at 0, 4, 8 -> 12
    assert seqstore.FileSeqStore(path).load() == (12, ctx.fingerprint)
    for _ in range(3):
        ctx = boot()  # reboot: resume at the stored limit
        used += seen_pivs(ctx, 5)
    assert len(used) == len(set(used)) == 25
    assert ctx.seq == 33 and events == ["oscore_seq_new"]  # boots at 12, 20, 28


def test_seq__power_cut_mid_write_keeps_the_old_limit():
    root = tmpdir("cut")
    path = root + "/oscore.seq"
    st = seqstore.FileSeqStore(path)
    ctx = SecurityContext(MASTER_SECRET, b"\x07", b"", store=st, seq_block=8)
    seen_pivs(ctx, 3)
    with open(path + ".tmp", "wb") as f:  # a torn write of the next limit
        f.write(b'{"limit": 1')
    ctx2 = SecurityContext(MASTER_SECRET, b"\x07", b"", store=st, seq_block=8)
    assert ctx2.seq == 8 and ctx2.lost is None


def test_seq__write_failure_sends_nothing():
    st = MemorySeqStore()
    events = []
    ctx = SecurityContext(MASTER_SECRET, b"\x07", b"", store=st, seq_block=2,
                          on_event=lambda k, d: events.append((k, d)))
    seen_pivs(ctx, 2)
    st.fail = True
    e = raises(ContextUnavailable, ctx.protect_request, 2, [], b"")
    assert e.message == ("cannot protect: sequence limit 4 not written "
                         "(simulated flash write failure)")
    assert e.code == 163
    assert ctx.seq == 2 and events[-1][0] == "oscore_store_failed"
    st.fail = False
    assert ctx.protect_request(2, [], b"")[1] == h("090207")  # seq 2, kid 07


def test_seq__unreadable_record_refuses_to_protect():
    root = tmpdir("lost")
    path = root + "/oscore.seq"
    with open(path, "wb") as f:
        f.write(b"\x00garbage")
    events = []
    ctx = SecurityContext(MASTER_SECRET, b"\x07", b"", store=seqstore.FileSeqStore(path),
                          on_event=lambda k, d: events.append(k))
    assert events == ["oscore_context_lost"]
    e = raises(ContextUnavailable, ctx.protect_request, 2, [], b"")
    assert e.message.startswith("cannot protect: sequence-number record unreadable (")
    assert e.message.endswith("); re-provision")
    # receiving still works (responses reuse the request's nonce)
    peer = SecurityContext(MASTER_SECRET, b"", b"\x07")
    _, opt, ct, _ = peer.protect_request(1, [], b"")
    ctx.window.init_empty()
    assert ctx.unprotect_request(opt, ct)[0] == 1


def test_seq__reprovisioned_context_starts_at_zero():
    st = MemorySeqStore()
    ctx = SecurityContext(MASTER_SECRET, b"\x07", b"", store=st)
    seen_pivs(ctx, 3)
    events = []
    new = SecurityContext(b"\x42" * 16, b"\x07", b"", store=st,
                          on_event=lambda k, d: events.append((k, d)))
    assert new.seq == 0 and events == [("oscore_seq_new", "new context")]
    again = SecurityContext(MASTER_SECRET, b"\x07", b"", id_context=b"\x01", store=st)
    assert again.seq == 0


def test_seq__exhaustion():
    ctx = SecurityContext(MASTER_SECRET, b"\x07", b"")
    ctx.seq = context.SEQ_MAX
    assert ctx.protect_request(2, [], b"")[1] == h("0dffffffffff07")
    e = raises(ContextUnavailable, ctx.protect_request, 2, [], b"")
    assert e.message == "cannot protect: sequence numbers exhausted at 1099511627775; re-provision"


def test_from_config__reads_hex_and_names_bad_keys():
    cfg = {"master_secret": "0102030405060708090a0b0c0d0e0f10", "master_salt": "9e7ca92223786340",
           "sender_id": "", "recipient_id": "01"}
    ctx = from_config(cfg)
    assert hx(ctx.sender_key) == "f0910ed7295e6ad4b54fc793154302ff" and ctx.id_context is None
    cfg2 = dict(cfg)
    cfg2["id_context"] = "37cbf3210017a2d3"
    assert hx(from_config(cfg2).sender_key) == "af2a1300a5e95788b356336eeecd2b92"
    bad = (
        ({}, "oscore.master_secret: missing (expected hex)"),
        ({"master_secret": "zz"}, "oscore.master_secret: expected hex, got 'zz'"),
        ({"master_secret": "01" * 16}, "oscore.sender_id: missing (expected hex, \"\" for the "
                                       "empty ID)"),
        ({"master_secret": "01" * 8, "sender_id": "", "recipient_id": "01"},
         "oscore.master_secret: expected at least 16 bytes, got 8"),
        ({"master_secret": "01" * 16, "sender_id": "0102030405060708", "recipient_id": "01"},
         "oscore.sender_id: expected at most 7 bytes for AES-CCM-16-64-128, got 8"),
        ({"master_secret": "01" * 16, "sender_id": "01", "recipient_id": "01"},
         "oscore.sender_id and recipient_id: must differ, both are 01"),
        ({"master_secret": "01" * 16, "sender_id": 1, "recipient_id": "01"},
         "oscore.sender_id: expected a hex string, got int"),
        ({"master_secret": "01" * 16, "sender_id": "", "recipient_id": "01", "seq_block": 0},
         "oscore.seq_block: expected a positive integer, got 0"),
        ("nope", "oscore: expected an object, got str"),
    )
    for section, msg in bad:
        e = raises(ValueError, from_config, section)
        assert str(e) == msg, (section, str(e))
