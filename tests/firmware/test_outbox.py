# runs-on: micropython cpython
"""Sequence numbers that survive reboot and power cut; the bounded outbox's overflow rule."""
from firmware import outbox, store
from fw_fakes import cleanup, tmpdir

teardown_function = cleanup

def fresh():
    return tmpdir("outbox")


def ev(kind="fault"):
    return {"dev": "gg-test", "k": kind, "up": 1}


def test_seq__continues_after_reboot_with_nothing_lost():
    root = fresh()
    ob = outbox.Outbox(root, capacity=8)
    assert [ob.add(ev()) for _ in range(3)] == [1, 2, 3]
    ob.ack(1)
    ob2 = outbox.Outbox(root, capacity=8)  # reboot
    assert ob2.waiting() == [2, 3]
    assert ob2.peek()["seq"] == 2
    assert ob2.add(ev()) == 4


def test_seq__never_reused_after_everything_was_acknowledged():
    root = fresh()
    ob = outbox.Outbox(root, capacity=8)
    for _ in range(5):
        ob.add(ev())
    ob.ack(5)
    assert ob.waiting() == []
    assert outbox.Outbox(root).add(ev()) == 6


def test_seq__power_cut_between_event_and_checkpoint_loses_nothing():
    root = fresh()
    ob = outbox.Outbox(root, capacity=8)
    ob.add(ev())
    ob.add(ev())
    # the cut: event 3 is on flash (renamed), /seq still says 2, and a torn .tmp is left over
    store.write_atomic(root + "/ob/3", '{"k": "fault", "dev": "gg-test", "up": 1, "seq": 3}')
    with open(root + "/ob/4.tmp", "w") as f:
        f.write('{"k": "fau')
    ob2 = outbox.Outbox(root, capacity=8)
    assert ob2.waiting() == [1, 2, 3]
    assert ob2.add(ev()) == 4
    assert "4.tmp" not in store.listdir(root + "/ob")


def test_overflow__drops_the_oldest_non_safety_event_never_a_safety_one():
    root = fresh()
    ob = outbox.Outbox(root, capacity=4)
    ob.add(ev("alarm"))  # 1
    ob.add(ev("fault"))  # 2
    ob.add(ev("valve_closed"))  # 3
    ob.add(ev("selftest"))  # 4
    assert ob.add(ev("fault_clear")) == 5  # drops 2, the oldest non-safety event
    assert ob.waiting() == [1, 3, 4, 5]
    assert ob.drops == 1
    ob.add(ev("alarm_clear"))  # 6 drops 4
    ob.add(ev("valve_reopened"))  # 7 drops 5
    assert ob.waiting() == [1, 3, 6, 7]
    # all safety now: a safety event is still admitted, a non-safety one is not (no number)
    assert ob.add(ev("alarm")) == 8
    assert ob.add(ev("fault")) == 0
    assert ob.waiting() == [1, 3, 6, 7, 8]
    assert ob.drops == 4
    assert outbox.Outbox(root, capacity=4).waiting() == [1, 3, 6, 7, 8]


def test_storage_failure__keeps_the_event_in_ram_and_reports_it():
    root = fresh()
    why = []
    ob = outbox.Outbox(root, capacity=4, on_storage_error=why.append)
    ob.dir = root + "/no-such-dir/ob"  # every write now fails
    seq = ob.add(ev("alarm"))
    assert seq == 1 and ob.peek()["k"] == "alarm"
    assert not ob.storage_ok and why and "write failed" in why[0]
