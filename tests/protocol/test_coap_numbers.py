# runs-on: micropython cpython
"""RFC 7252 numbers and transmission parameters, with overrides."""
from protocol import coap_numbers as c
from utils.dual import raises


def test_codes__class_and_detail():
    assert c.code(2, 5) == c.CONTENT == 69
    assert c.code(2, 4) == c.CHANGED == 68
    assert c.code(4, 4) == c.NOT_FOUND == 132
    assert c.code(4, 9) == c.CONFLICT
    assert c.code(5, 3) == c.SERVICE_UNAVAILABLE
    assert c.code_text(c.CHANGED) == "2.04"
    assert c.code_text(c.REQUEST_ENTITY_TOO_LARGE) == "4.13"
    assert c.METHODS["POST"] == c.POST == 2


def test_options_and_formats__registry_values():
    assert (c.URI_PATH, c.CONTENT_FORMAT, c.ACCEPT, c.BLOCK2, c.BLOCK1, c.OSCORE) == (11, 12, 17, 23, 27, 9)
    assert (c.CF_CBOR, c.CF_SENML_CBOR, c.CF_LINK_FORMAT) == (60, 112, 40)


def test_transmission_parameters__rfc_defaults_and_derived_times():
    p = c.TransmissionParameters()
    assert (p.ACK_TIMEOUT, p.ACK_RANDOM_FACTOR, p.MAX_RETRANSMIT, p.NSTART) == (2.0, 1.5, 4, 1)
    assert p.DEFAULT_LEISURE == 5.0 and p.PROBING_RATE == 1.0
    assert p.MAX_TRANSMIT_SPAN == 45
    assert p.MAX_TRANSMIT_WAIT == 93
    assert p.MAX_RTT == 202
    assert p.EXCHANGE_LIFETIME == 247
    assert p.NON_LIFETIME == 145
    assert p.timeouts(2.0) == [2.0, 4.0, 8.0, 16.0, 32.0]


def test_transmission_parameters__overrides_flow_into_derived_times():
    p = c.TransmissionParameters(ACK_TIMEOUT=1, MAX_RETRANSMIT=2)
    assert p.MAX_TRANSMIT_SPAN == 1 * 3 * 1.5
    assert p.timeouts(1.0) == [1.0, 2.0, 4.0]
    assert c.DEFAULTS.ACK_TIMEOUT == 2.0  # the shared default is untouched
    e = raises(ValueError, c.TransmissionParameters, ACK_TIMOUT=1)
    assert str(e).startswith("unknown CoAP transmission parameter ACK_TIMOUT (known: ACK_TIMEOUT,")
    e = raises(ValueError, c.TransmissionParameters, MAX_RETRANSMIT=-1)
    assert str(e) == "CoAP MAX_RETRANSMIT must be a non-negative number, got -1"
    e = raises(ValueError, c.TransmissionParameters, ACK_RANDOM_FACTOR=0.5)
    assert str(e) == "CoAP ACK_RANDOM_FACTOR must be at least 1.0"
