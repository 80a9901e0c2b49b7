"""The steps in-process (fleet/provision/steps.py), where a test can cut the board's power in
the middle of a step: the real mpremote transport, a virtual board from the factory vfs image,
a real fleet process."""

from __future__ import annotations

import json
import time

import pytest

from boards.sim.board import read_image
from provision_support import BOARD_HEAP

pytestmark = pytest.mark.timeout(240)
from fleet.provision.board import BoardSession
from fleet.provision.service import fingerprint
from fleet.provision.steps import Options, ProvisionError, Provisioner, Refused, Reporter


def _files(b):
    return read_image(b.image_path.read_bytes(), b.board.block_size, b.board.block_count)


class Installer(Reporter):
    """Plays the installer at the prompts of a real board's acceptance test, on the virtual
    board's controls: test gas when asked, the answers, the gas away, the valve reopened."""

    def __init__(self, board) -> None:
        self.b = board
        self.questions: list[str] = []
        self.reopened = False

    def note(self, text: str) -> None:
        if text.startswith("Reopen the gas valve by hand now"):
            self.b.valve_reopen()  # the power cut closed it
            self.reopened = True
        elif text.startswith("Apply methane test gas"):
            self.b.set_gas("methane", 40.0)
        elif text.startswith("Take the test gas away"):
            self.b.set_gas("methane", 0.0)
        elif text.startswith("Reopen the valve by hand"):
            self.b.valve_reopen()

    def ask(self, question: str) -> bool:
        self.questions.append(question)
        if question == "Is the gas valve open now?":
            return self.b.valve_state == "open"
        return True


class AsRealBoard(Provisioner):
    """The virtual board taken for a real one, so the acceptance test prompts the installer."""

    def step_board(self) -> str:
        detail = super().step_board()
        self.board_json["virtual"] = False
        return detail


def _opts(b, fleet_process, token, **kw):
    base = dict(port=b.port, site="HZ-0100", fleet=fleet_process.url, token=token, acceptance=False,
                register_timeout_s=30)
    base.update(kw)
    return Options(**base)


def test_config_step__power_cut_between_write_and_rename__old_config_whole__rerun_succeeds(
        virtual_boards, factory_vfs, fleet_process):
    b = virtual_boards(image=factory_vfs, heapsize=BOARD_HEAP)
    token = fleet_process.token()
    first = Provisioner(_opts(b, fleet_process, token, site="HZ-0100")).run()
    old = _files(b)["/config.json"]

    def cut() -> None:  # the power goes after /config.json.tmp is written, before the rename
        b.power_cut()
        b.power_restore()

    p = Provisioner(_opts(b, fleet_process, token, site="HZ-0101"), after_tmp=cut)
    with pytest.raises(ProvisionError) as ei:
        p.run()
    e = ei.value
    assert e.step == "config"
    assert e.message.startswith(f"{b.port}: the board stopped answering")
    assert e.state == "reset into its normal boot, running its app with its previous configuration, unchanged"
    assert e.next == "check the cable and that the board has power, then run the same command again (it is safe " \
                     "to repeat)"
    files = _files(b)
    assert files["/config.json"] == old  # whole, the old one
    assert json.loads(files["/config.json"])["site"] == "HZ-0100"
    assert "/maint" not in files
    assert [x["detail"] for x in b.boots[-2:]] == ["power-on", "machine.reset"]

    # the run that succeeds also runs the acceptance test as on a real board: the installer's
    # test gas and answers, the fleet's events checked by the tool
    installer = Installer(b)
    again = AsRealBoard(_opts(b, fleet_process, token, site="HZ-0101", acceptance=True), installer).run()
    assert again.key_reused and again.key_fingerprint == first.key_fingerprint
    assert again.config_changed
    assert installer.questions == ["Is the gas valve open now?", "Did the red light come on?", "Did the buzzer sound?",
                                   "Is the gas valve closed (indicator / no flow at the burner)?"]
    assert installer.reopened  # the power cut had closed the valve (close_on_power_loss)
    acc = again.acceptance
    assert acc is not None and acc["result"] == "pass" and acc["method"] == "installer"
    assert acc["checks"]["fleet_alarm"] and acc["checks"]["fleet_valve_closed"] and acc["checks"]["alarm_cleared"]
    assert b.valve_state == "open"
    cfg = json.loads(_files(b)["/config.json"])
    assert cfg["site"] == "HZ-0101" and cfg["device_id"] == first.device_id
    assert fleet_process.status(first.device_id, token)["site_code"] == "HZ-0101"


def test_key_step__oscore__kept__refused_when_lost__rekey_issues_a_new_one(virtual_boards, factory_vfs,
                                                                         fleet_process):
    b = virtual_boards(image=factory_vfs, heapsize=BOARD_HEAP)
    token = fleet_process.token()
    # the fleet speaks OSCORE (docs/oscore.md §11): the key goes onto the board and the board
    # registers over OSCORE with it, which puts the key in use
    first = Provisioner(_opts(b, fleet_process, token)).run()
    cfg = json.loads(_files(b)["/config.json"])
    assert fingerprint(cfg["oscore"]) == first.key_fingerprint and first.key_version == 1
    deadline = time.monotonic() + 10  # written by the fleet within half a second of the registration
    while fleet_process.query("select oscore_since from device_credentials where device_id = :d",
                              d=first.device_id)[0][0] is None:  # the fleet took the protected registration
        assert time.monotonic() < deadline, "the fleet never recorded the board as speaking OSCORE"
        time.sleep(0.2)

    p = Provisioner(_opts(b, fleet_process, token))
    again = p.run()  # key and configuration go through unchanged; it registers again over OSCORE
    assert again.key_reused and not again.config_changed and again.key_fingerprint == first.key_fingerprint

    with BoardSession(b.port).open() as s:  # the board's filesystem loses its configuration
        s.remove("/config.json")
        s.reset(reconnect=False)
    with pytest.raises(ProvisionError) as ei:
        Provisioner(_opts(b, fleet_process, token)).run()
    e = ei.value
    assert e.step == "key"
    assert e.message == (f"the fleet's key for {first.device_id} (version 1, fingerprint {first.key_fingerprint}) is "
                         "already in use, but this board holds no key; giving it the old key again could repeat "
                         "OSCORE nonces")
    assert e.next.startswith("run the same command with --rekey")
    assert "/config.json" not in _files(b) and "/maint" not in _files(b)

    rekeyed = Provisioner(_opts(b, fleet_process, token, rekey=True)).run()  # registers with the new key
    assert rekeyed.key_version == 2 and rekeyed.key_fingerprint != first.key_fingerprint
    cfg = json.loads(_files(b)["/config.json"])
    assert fingerprint(cfg["oscore"]) == rekeyed.key_fingerprint
    assert cfg["oscore"]["sender_id"] == first.config["oscore"]["sender_id"]
    assert cfg["oscore"]["id_context"] != first.config["oscore"]["id_context"]


def test_board_step__wrong_board__refused_untouched(virtual_boards, factory_vfs, fleet_process):
    b = virtual_boards(image=factory_vfs, heapsize=BOARD_HEAP)
    with pytest.raises(ProvisionError) as ei:
        Provisioner(_opts(b, fleet_process, "tok", board="esp32-mq4")).run()
    assert ei.value.message == f"the board on {b.port} is a 'sim', not the 'esp32-mq4' given with --board"
    assert "/maint" not in _files(b)


@pytest.mark.parametrize("field, value, message", [
    ("site", "", "--site '': expected the site's account number (1..64 printable characters)"),
    ("fleet", "fleet.example.cn", "--fleet 'fleet.example.cn': expected the fleet's address, http://host:port or "
                                  "https://host"),
    ("gas", "radon", "--gas 'radon': expected one of methane, lpg, propane, butane"),
    ("sp_low", 40.0, "--sp-low 40: expected 1..25 %LEL (GB 15322: the low alarm is 25 %LEL or lower)"),
    ("sp_high", 10.0, "--sp-high 10: expected 0 (single level) or above the low set point (25) and at most 60 %LEL"),
    ("coap", "fleet:x", "--coap 'fleet:x': expected HOST:PORT, e.g. fleet.example.cn:5683"),
])
def test_options__invalid__refused(field, value, message):
    o = Options(port="/dev/null", site="S", fleet="http://f", token="t")
    setattr(o, field, value)
    with pytest.raises(Refused) as ei:
        Provisioner(o).run()
    assert str(ei.value) == message
