"""The virtual board driven by the real mpremote: files, run, Ctrl-C, resets, watchdog, power,
gas, two boards at once. Each board is the real `micropython` on a pty."""

from __future__ import annotations

import os
import time

import pytest

from boards import vfs_image
from boards.registry import load_board
from boards.sim.board import SimError, VirtualBoard
from utils.virtual_board import mpremote

LOOP_MAIN = b"""import time
print('main: started')
n = 0
while True:
    n += 1
    time.sleep_ms(20)
"""


def _wait(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def test_mpremote__cp_ls_cat_run_rm(virtual_boards, tmp_path):
    b = virtual_boards()
    src = tmp_path / "hello.py"
    src.write_text("import machine\nprint('hello', machine.unique_id().hex())\n")
    assert mpremote(b.port, "fs", "cp", str(src), ":hello.py").stdout == "cp %s :hello.py\n" % src
    # unchanged: mpremote compares sha256 on the board and skips the copy
    assert "Up to date: hello.py" in mpremote(b.port, "fs", "cp", str(src), ":hello.py").stdout
    mpremote(b.port, "fs", "mkdir", "lib")
    ls = mpremote(b.port, "fs", "ls").stdout
    assert "hello.py" in ls and "lib/" in ls and "board.json" in ls
    assert mpremote(b.port, "fs", "cat", "hello.py").stdout == src.read_text()
    assert mpremote(b.port, "exec", "import hello").stdout == "hello %s\n" % b.uid.hex()
    assert mpremote(b.port, "run", str(src)).stdout == "hello %s\n" % b.uid.hex()
    assert mpremote(b.port, "eval", "1 + 2").stdout.strip() == "3"
    # the flash is the littlefs image: the host reads the same file
    assert b.read_files()["/hello.py"] == src.read_bytes()
    mpremote(b.port, "fs", "rm", "hello.py")
    assert "/hello.py" not in b.read_files()
    r = mpremote(b.port, "fs", "cat", "nope.py", check=False)
    assert r.returncode != 0 and "No such file" in r.stdout + r.stderr


def test_mpremote__ctrl_c_interrupts_main_and_reset(virtual_boards, tmp_path):
    b = virtual_boards()
    main = tmp_path / "main.py"
    main.write_bytes(LOOP_MAIN)
    mpremote(b.port, "fs", "cp", str(main), ":main.py")
    mark = len(b.console)
    mpremote(b.port, "reset")
    _wait(lambda: len(b.boots) == 2, what="the board to reboot")
    assert b.boots[1]["cause"] == 2 and b.boots[1]["detail"] == "machine.reset"
    start = b.wait_console(b"main: started", start=mark)
    # main.py loops forever; mpremote's Ctrl-C interrupts it and the raw REPL answers
    assert mpremote(b.port, "exec", "import machine; print(machine.reset_cause())").stdout == "2\n"
    tail = bytes(b.console[start:])
    assert b'File "main.py", line 6, in <module>' in tail and b"\r\nKeyboardInterrupt: \r\n" in tail
    # after a soft reset (mpremote's) main.py stays quiet, and the same process still runs
    assert len(b.boots) == 2 and b.running


def test_boot_order__boot_then_main_soft_reboot_skips_main(virtual_boards):
    files = {"/boot.py": b"print('boot.py ran')\n", "/main.py": b"print('main.py ran')\n"}
    b = virtual_boards(files=files)
    out = b.wait_console(b"main.py ran")
    assert b"boot.py ran" in bytes(b.console[:out])
    mark = len(b.console)
    mpremote(b.port, "soft-reset")
    b.wait_console(b"raw REPL; CTRL-B to exit\r\n", start=mark)
    after = bytes(b.console[mark:])
    assert b"OK\r\nMPY: soft reboot\r\nboot.py ran\r\nraw REPL; CTRL-B to exit\r\n" in after
    assert b"main.py ran" not in after


def test_watchdog__resets_board_when_not_fed(virtual_boards):
    main = b"""import machine
if machine.reset_cause() == machine.WDT_RESET:
    print('main: back after watchdog')
    open('wdt_seen', 'w').write('yes')
else:
    w = machine.WDT(timeout=600)
    for _ in range(3):
        w.feed()
        machine.idle()
    print('main: stuck')
    while True:
        pass
"""
    b = virtual_boards(files={"/main.py": main})
    b.wait_console(b"main: stuck")
    b.wait_event(lambda e: e["ev"] == "boot" and e["v"] == 3, timeout=10)
    b.wait_console(b"main: back after watchdog")
    assert [x["cause"] for x in b.boots] == [1, 3]
    _wait(lambda: "/wdt_seen" in b.read_files(), what="wdt_seen on flash")


def test_power_cut_and_restore__files_intact(virtual_boards, tmp_path):
    writer = b"""import time
n = 0
while True:
    with open('log.txt', 'a') as f:
        f.write('line %d\\n' % n)
    n += 1
    time.sleep_ms(5)
"""
    b = virtual_boards(files={"/main.py": writer})
    keep = tmp_path / "keep.txt"
    keep.write_text("written before the cut\n")
    mpremote(b.port, "fs", "cp", str(keep), ":keep.txt")
    mpremote(b.port, "reset")  # main.py runs again and appends while we cut the power
    _wait(lambda: len(b.boots) == 2, what="reboot")
    time.sleep(0.5)
    pid = b.pid
    b.power_cut()
    assert not b.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    files = b.read_files()
    assert files["/keep.txt"] == keep.read_bytes()
    lines = files["/log.txt"].decode().splitlines()
    # two runs of main.py (first boot, then after the reset), each counting up from 0; every
    # line that littlefs committed before the cut is whole
    nums = [int(line.split(" ")[1]) for line in lines]
    assert all(line == "line %d" % n for line, n in zip(lines, nums)) and len(lines) > 5
    assert nums.count(0) == 2 and all(b == a + 1 or b == 0 for a, b in zip(nums, nums[1:]))
    b.power_restore()
    assert b.boots[-1]["cause"] == 1
    assert mpremote(b.port, "fs", "cat", "keep.txt").stdout == keep.read_text()
    assert mpremote(b.port, "exec", "import machine; print(machine.reset_cause())").stdout == "1\n"


ALARM_MAIN = b"""import machine, time
adc = machine.ADC(machine.Pin(34), atten=machine.ADC.ATTN_11DB)
valve = machine.Pin(25, machine.Pin.OUT, value=0)
red = machine.Pin(27, machine.Pin.OUT, value=0)
print('main: clean', adc.read_uv())
while True:
    uv = adc.read_uv()
    if uv > 1800000:
        print('main: gas', uv)
        red.on()
        valve.on()
        time.sleep_ms(200)
        valve.off()
        break
    time.sleep_ms(50)
"""


def test_concentration_step__seen_by_code_on_the_board(virtual_boards):
    b = virtual_boards(files={"/main.py": ALARM_MAIN})
    b.wait_console(b"main: clean")
    time.sleep(0.3)
    assert b.valve_state == "open"
    b.set_gas("methane", 30.0)
    b.wait_console(b"main: gas")
    e = b.wait_event(lambda e: e["ev"] == "led" and e["n"] == "red" and e["v"] == 1)
    closed = b.wait_event(lambda e: e["ev"] == "valve" and e["v"] == "closed", timeout=5)
    assert closed["t"] - e["t"] >= 1500  # the valve's closing time
    assert b.valve_state == "closed"
    # only a person on site reopens it
    b.set_gas("methane", 0)
    b.valve_reopen()
    assert b.valve_state == "open"
    with pytest.raises(ValueError, match="the valve is already open"):
        b.valve_reopen()


def test_button__irq_on_board(virtual_boards):
    main = b"""import machine, time
green = machine.Pin(13, machine.Pin.OUT, value=0)
def pressed(p):
    green.value(1 - green.value())
machine.Pin(4, machine.Pin.IN, machine.Pin.PULL_UP).irq(pressed, trigger=machine.Pin.IRQ_FALLING)
print('main: armed')
while True:
    time.sleep_ms(500)
"""
    b = virtual_boards(files={"/main.py": main})
    b.wait_console(b"main: armed")
    b.press_button(ms=100)
    b.wait_event(lambda e: e["ev"] == "led" and e["n"] == "green" and e["v"] == 1, timeout=3)
    assert b.leds() == {"red": 0, "yellow": 0, "green": 1}


def test_two_boards_side_by_side(virtual_boards, tmp_path):
    a = virtual_boards()
    c = virtual_boards("esp32-mq4")
    assert a.port != c.port and a.uid != c.uid and a.image_path != c.image_path
    f = tmp_path / "only_a.py"
    f.write_text("x = 1\n")
    mpremote(a.port, "fs", "cp", str(f), ":only_a.py")
    assert "only_a.py" in mpremote(a.port, "fs", "ls").stdout
    assert "only_a.py" not in mpremote(c.port, "fs", "ls").stdout
    read = "import machine; print(machine.ADC(machine.Pin(34), atten=3).read_uv())"
    a0 = int(mpremote(a.port, "exec", read).stdout)
    c0 = int(mpremote(c.port, "exec", read).stdout)
    a.set_gas("methane", 40.0)  # only board a smells gas
    a1 = int(mpremote(a.port, "exec", read).stdout)
    c1 = int(mpremote(c.port, "exec", read).stdout)
    assert a1 > 1.5 * a0, (a0, a1)
    assert c1 < c0 * 1.05, (c0, c1)  # (c's sensor is still warming up: its reading only falls)
    assert '"name": "esp32-mq4"' in mpremote(c.port, "fs", "cat", "board.json").stdout


def test_image__boots_given_image_and_refuses_wrong_size(virtual_boards, tmp_path):
    board = load_board("sim")
    img = tmp_path / "factory.img"
    img.write_bytes(vfs_image.pack({"/main.py": b"print('factory app')\n", "/board.json": b"{}"},
                                   block_size=4096, block_count=board.block_count))
    b = virtual_boards(image=img)
    b.wait_console(b"factory app")
    mpremote(b.port, "exec", "open('new.txt','w').write('x')")
    assert "/new.txt" in b.read_files()
    assert "/new.txt" not in vfs_image.read(img.read_bytes()).files  # booted from a copy
    bad = tmp_path / "small.img"
    bad.write_bytes(img.read_bytes()[: 0x100000])
    with pytest.raises(SimError) as e:
        VirtualBoard("sim", image=bad, workdir=tmp_path)
    assert str(e.value) == (
        "%s: image is 1048576 bytes; board sim needs exactly 2097152 (vfs.size 0x200000, 512 "
        "blocks of 4096): build one for this board (gasguard image build --board sim --vfs-out FILE)" % bad)


def test_power__cut_closes_valve_brownout_and_reset_causes(virtual_boards):
    b = virtual_boards()
    assert b.valve_state == "open"
    b.power_cut()  # the sim board's pulse valve closes from stored energy
    assert b.valve_state == "closing"
    b.power_restore()
    b.wait_event(lambda e: e["ev"] == "valve" and e["v"] == "closed", timeout=5)
    assert b.valve_state == "closed"  # still closed after power is back: only a person reopens it
    b.valve_reopen()
    assert b.valve_state == "open"
    read = "import machine; print(machine.reset_cause())"
    b.brownout()
    assert (b.boots[-1]["cause"], b.boots[-1]["detail"]) == (1, "brown-out")
    b.hard_reset()
    assert mpremote(b.port, "exec", read).stdout == "2\n"


def test_power_cut__stored_energy_close_is_logged_closed_while_off(virtual_boards):
    b = virtual_boards()
    b.power_cut()
    cut = b.events_of("power")[-1]["t"]
    closed = b.wait_event(lambda e: e["ev"] == "valve" and e["v"] == "closed", timeout=5)
    assert closed["t"] == b.events_of("valve")[-2]["t"] + 1500 and b.events_of("valve")[-2]["v"] == "closing"
    assert closed["t"] - cut <= 1510 and b.running is False  # the position switch, board still off
    b.power_restore()
    time.sleep(0.3)
    assert [e["v"] for e in b.events_of("valve")] == ["closing", "closed"] and b.valve_state == "closed"


def test_sensor_fault__adc_reads_open_and_short_through_cuts(virtual_boards):
    b = virtual_boards()
    read = "import machine; print(machine.ADC(machine.Pin(34), atten=3).read_uv())"
    b.sensor_fault("open")
    assert mpremote(b.port, "exec", read).stdout == "0\n"
    b.sensor_fault("short")
    b.power_cut()
    b.power_restore()  # a shorted sensor stays shorted
    assert abs(int(mpremote(b.port, "exec", read).stdout) - 3000000) < 40000  # Vc x divider, 0.3 % noise
    assert b.state()["sensor_fault"] == "short"
    b.sensor_fault(None)
    assert 200000 < int(mpremote(b.port, "exec", read).stdout) < 2500000
    with pytest.raises(ValueError) as e:
        b.sensor_fault("loose")
    assert str(e.value) == "sensor fault 'loose': expected 'open', 'short' or None"


def test_hold_valve__closes_on_reset(virtual_boards):
    b = virtual_boards("esp32c3-mq5", files={"/main.py": b"import machine\nmachine.Pin(6, machine.Pin.OUT, value=1)\n"})
    b.wait_event(lambda e: e["ev"] == "out" and e["n"] == "valve_drive" and e["v"] == 1)
    _wait(lambda: b._shadow.valve.drive == 1, what="the coil mirrored")
    b.valve_reopen()  # energised: the installer can open it
    assert b.valve_state == "open"
    b.hard_reset()  # the coil drops during the reset: a hold valve shuts
    assert b.valve_state in ("closing", "closed")


def test_mpremote__tree_df_and_soft_reset_from_code(virtual_boards, tmp_path):
    b = virtual_boards()
    d = tmp_path / "pkg"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a\n")
    (d / "sub" / "b.txt").write_text("b\n")
    mpremote(b.port, "fs", "cp", "-r", str(d), ":")
    assert mpremote(b.port, "fs", "tree").stdout.endswith("pkg\n    ├── a.txt\n    └── sub\n        └── b.txt\n")
    df = mpremote(b.port, "df").stdout.splitlines()[1].split()
    assert df[0] == "<VfsLfs2>" and df[1] == "2097152"  # the board's vfs size
    mark = len(b.console)
    mpremote(b.port, "exec", "import machine; machine.soft_reset()")  # framing ends, then MPY: soft reboot
    b.wait_console(b"MPY: soft reboot", start=mark)
    assert len(b.boots) == 1


def test_friendly_repl__echo_eval_and_blocks(virtual_boards):
    import serial

    b = virtual_boards()
    with serial.Serial(b.port, 115200, timeout=2) as s:
        mark = len(b.console)
        s.write(b"1+1\r")
        b.wait_console(b"1+1\r\n2\r\n>>> ", start=mark)
        mark = len(b.console)
        s.write(b"for i in range(2):\r    print('i', i)\r\r")
        b.wait_console(b"i 0\r\ni 1\r\n>>> ", start=mark)
        assert b"... " in bytes(b.console[mark:])
        mark = len(b.console)
        s.write(b"\x04")  # Ctrl-D at the prompt: soft reboot, then main.py would run again
        b.wait_console(b"MPY: soft reboot\r\n", start=mark)
        b.wait_console(b'Type "help()" for more information.\r\n>>> ', start=mark)


def test_image__corrupted_flash_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("GASGUARD_SIM_DIR", str(tmp_path / "reg"))
    b = VirtualBoard("sim", workdir=tmp_path)
    b.image_path.write_bytes(b"\xff" * b.board.vfs_size)  # erased flash: no filesystem
    with pytest.raises(SimError) as e:
        b.start()
    assert "did not boot" in str(e.value) and "corrupted filesystem" in str(e.value)
    assert b.pid is None and not b.running


def test_mpremote__mount_binary_protocol_then_ctrl_c_still_works(virtual_boards, tmp_path):
    d = tmp_path / "host"
    d.mkdir()
    (d / "data.bin").write_bytes(bytes(range(256)))  # bytes 3 and 10 must pass untouched both ways
    (d / "mod.py").write_text("VALUE = 42\n")
    b = virtual_boards()
    code = ("import mod, hashlib, binascii\n"
            "print(mod.VALUE, binascii.hexlify(hashlib.sha256(open('data.bin','rb').read()).digest()).decode())")
    import hashlib

    out = mpremote(b.port, "mount", str(d), "exec", code).stdout
    assert out.endswith("42 %s\n" % hashlib.sha256(bytes(range(256))).hexdigest()), out
    main = tmp_path / "main.py"
    main.write_bytes(LOOP_MAIN)
    mpremote(b.port, "fs", "cp", str(main), ":main.py")
    mark = len(b.console)
    mpremote(b.port, "reset")
    b.wait_console(b"main: started", start=mark)
    assert mpremote(b.port, "eval", "6 * 7").stdout.strip() == "42"  # Ctrl-C interrupted main.py
