# runs-on: micropython cpython
"""The registry names the device does not use live in protocol/*_more.py and read through the
main modules (a module __getattr__ loads them on first use): same values, same errors."""
from protocol import codes, coap_numbers, messages, senml
from utils.dual import raises


def test_rest_of_the_registries__reads_through_the_main_modules():
    assert (coap_numbers.BLOCK2, coap_numbers.OSCORE, coap_numbers.CF_JSON) == (23, 9, 50)
    assert coap_numbers.METHODS["iPATCH"] == coap_numbers.IPATCH == 7
    assert coap_numbers.MAX_MESSAGE_SIZE == 1152 and coap_numbers.MAX_PAYLOAD_SIZE == 1024
    assert (codes.BOOT, codes.CALIBRATION, codes.OP_CLOSE_VALVE, codes.ST_EXPIRED) == (
        "boot", "calibration", "close_valve", "expired")
    assert codes.SAFETY_KINDS == ("alarm", "alarm_clear", "valve_closed", "valve_reopened")
    assert (codes.RESET_UNKNOWN, codes.RESET_BROWN_OUT, codes.VALVE_UNKNOWN) == (0, 6, 3)
    assert codes.fault_names(codes.FAULT_SENSOR_OPEN | codes.FAULT_CAL_OVERDUE) == [
        "sensor_open", "cal_overdue"]
    assert senml.LABEL_NAMES[senml.BN] == "bn" and senml.LABEL_NAMES[senml.UT] == "ut"
    assert (senml.BVER, senml.CONTENT_FORMAT_SENML_CBOR, senml.PEN) == (-1, 112, 32473)
    assert senml.BASE_NAME_PREFIX == "urn:dev:os:%d-" % senml.PEN


def test_rest_of_the_registries__from_import_works():
    from protocol.coap_numbers import ECHO, FETCH
    from protocol.codes import FAULT_NAMES, OP_REBOOT

    assert (ECHO, FETCH, OP_REBOOT, len(FAULT_NAMES)) == (252, 5, "reboot", 12)


def test_unknown_name__is_an_attribute_error_naming_the_module():
    for mod, name in ((coap_numbers, "coap_numbers"), (codes, "codes"), (senml, "senml"),
                      (messages, "messages")):
        e = raises(AttributeError, getattr, mod, "NO_SUCH_NAME")
        assert str(e) == "module 'protocol.%s' has no attribute 'NO_SUCH_NAME'" % name


def test_heartbeat_pack__reads_through_messages():
    hb = {"dev": "gg-1", "fw": "1.0", "lel": 0.5, "alarm": 0, "valve": 0, "faults": 0,
          "uptime": 5, "last_seq": 2}
    pack = messages.heartbeat_to_pack(hb)
    assert messages.pack_to_heartbeat(pack) == dict(hb, t=0)
