# runs-on: micropython cpython
"""The CoAP resource table both sides import (docs/protocol.md "Resources")."""
from protocol import paths
from protocol.coap_numbers import CF_CBOR, CF_SENML_CBOR, CHANGED, CONTENT, GET, POST


def test_resources__match_the_contract_table():
    rows = [(r[paths.SIDE], r[paths.METHOD], paths.uri_path(r[paths.PATH])) for r in paths.RESOURCES]
    assert rows == [
        ("fleet", POST, "/gg/reg"),
        ("fleet", POST, "/gg/hb"),
        ("fleet", POST, "/gg/ev"),
        ("fleet", POST, "/gg/cr"),
        ("device", GET, "/health"),
        ("device", POST, "/selftest"),
        ("device", POST, "/valve/close"),
        ("device", POST, "/cmd"),
    ]


def test_find__by_method_and_segments():
    row = paths.find(POST, ["gg", "hb"])
    assert row[paths.NAME] == "heartbeat"
    assert row[paths.REQUEST_CF] == CF_SENML_CBOR
    assert row[paths.RESPONSE_CF] == CF_CBOR
    assert row[paths.SUCCESS] == CHANGED
    assert paths.find(GET, ("health",))[paths.SUCCESS] == CONTENT
    assert paths.find(GET, ("gg", "hb")) is None
    assert paths.find(POST, ("nope",)) is None


def test_split_and_uri_path__are_inverse():
    assert paths.split("/valve/close") == ("valve", "close")
    assert paths.split("valve//close/") == ("valve", "close")
    assert paths.uri_path(paths.VALVE_CLOSE) == "/valve/close"


def test_link_format__lists_one_side():
    assert paths.link_format("device") == (
        "</health>;ct=112,</selftest>;ct=60,</valve/close>;ct=60,</cmd>;ct=60"
    )
    assert paths.link_format("fleet").startswith("</gg/reg>;ct=60,</gg/hb>;ct=112")


def test_for_side__splits_the_table():
    assert len(paths.for_side("fleet")) == 4
    assert len(paths.for_side("device")) == 4
