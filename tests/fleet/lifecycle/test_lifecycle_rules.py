"""fleet/lifecycle/rules.py: due dates, model checks and when work orders are raised."""

from __future__ import annotations

from datetime import date

import pytest

from fleet.lifecycle.rules import (
    Due,
    ModelLife,
    Policy,
    RuleError,
    WorkOrderKind,
    add_months,
    calibration_interval,
    dues,
    item_dates,
    model_problems,
    raised,
)

INSTALLED = date(2023, 5, 10)


def test_item_dates__detector_yearly_and_sensor_life() -> None:
    d = item_dates(ModelLife("alarm", 365, 5 * 365), INSTALLED)
    assert d.calibration_due == date(2024, 5, 9)  # 365 days, 2024 is a leap year
    assert d.sensor_eol == date(2028, 5, 8)
    assert d.service_eol is None
    assert d.problems == ()


def test_item_dates__calibration_interval_capped_at_jjg693_12_months() -> None:
    model = ModelLife("alarm", calibration_interval_days=730)
    assert calibration_interval(model) == 365
    assert item_dates(model, INSTALLED).calibration_due == date(2024, 5, 9)
    assert model_problems(model) == [
        "calibration_interval_days = 730: JJG 693 allows at most 365; 365 is used"]


def test_item_dates__detector_without_interval_gets_the_maximum() -> None:
    assert calibration_interval(ModelLife("alarm_shutoff")) == 365


def test_item_dates__last_pass_resets_the_clock() -> None:
    d = item_dates(ModelLife("alarm_shutoff", 182), INSTALLED, last_calibrated_on=date(2024, 1, 2))
    assert d.calibration_due == date(2024, 7, 2)


def test_item_dates__valve_life_from_model_only() -> None:
    assert item_dates(ModelLife("self_closing_valve", service_life_days=3650), INSTALLED).service_eol \
        == date(2033, 5, 7)
    open_rule = item_dates(ModelLife("self_closing_valve"), INSTALLED)
    assert open_rule.service_eol is None  # never a hard-coded 8 or 10 years
    assert open_rule.calibration_due is None
    assert "service_life_days not set" in open_rule.problems[0]


def test_item_dates__hose_defaults_to_appliance_life_and_short_hose_flagged() -> None:
    assert item_dates(ModelLife("hose"), INSTALLED).service_eol == date(2031, 5, 8)  # 8 × 365 days
    short = ModelLife("hose", service_life_days=5 * 365)
    assert item_dates(short, INSTALLED).service_eol == date(2028, 5, 8)
    assert model_problems(short) == [
        "service_life_days = 1825: a metal hose must last at least as long as the appliance "
        "(2920 days, GB 55009 §6.1.7)"]
    assert model_problems(short, Policy(appliance_life_days=1000)) == []


def test_item_dates__invalid() -> None:
    with pytest.raises(RuleError, match="before installed_on"):
        item_dates(ModelLife("alarm"), INSTALLED, last_calibrated_on=date(2023, 1, 1))
    with pytest.raises(RuleError, match="expected a date"):
        item_dates(ModelLife("alarm"), "2023-05-10")  # type: ignore[arg-type]
    assert model_problems(ModelLife("alarm", sensor_life_days=0)) == ["sensor_life_days = 0: must be > 0 days"]


def test_policy__invalid() -> None:
    with pytest.raises(RuleError, match="JJG 693 allows 1..365"):
        Policy(max_calibration_interval_days=400)
    with pytest.raises(RuleError, match="unknown work-order kind"):
        Policy(lead_days={"calibration": 10})
    with pytest.raises(RuleError, match="must be >= 0"):
        Policy(lead_days={"hose_eol": -1})


def test_dues__kinds_per_item() -> None:
    valve = ModelLife("self_closing_valve", service_life_days=100)
    assert dues(valve, item_dates(valve, INSTALLED)) == [Due(WorkOrderKind.valve_eol, date(2023, 8, 18))]
    assert WorkOrderKind.valve_eol.payer == "user"
    assert WorkOrderKind.hose_eol.payer == "operator"
    det = ModelLife("alarm", 365, 1000)
    assert [d.kind for d in dues(det, item_dates(det, INSTALLED))] == [
        WorkOrderKind.calibration_due, WorkOrderKind.sensor_eol]


def test_raised__lead_time_boundary() -> None:
    due = [Due(WorkOrderKind.calibration_due, date(2024, 5, 9))]
    policy = Policy(lead_days={"calibration_due": 30})
    assert raised(due, date(2024, 4, 8), policy) == []
    assert raised(due, date(2024, 4, 9), policy) == due  # exactly 30 days ahead
    assert raised(due, date(2024, 6, 1), policy) == due  # overdue stays raised
    assert raised(due, date(2024, 5, 8), Policy(lead_days={"calibration_due": 0})) == []


@pytest.mark.parametrize(("day", "months", "want"), [
    (date(2023, 1, 31), 1, date(2023, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2023, 11, 15), 3, date(2024, 2, 15)),
    (date(2023, 3, 31), -1, date(2023, 2, 28)),
])
def test_add_months(day: date, months: int, want: date) -> None:
    assert add_months(day, months) == want
