"""fleet/campaign/rules.py and plan.py: requirements, cost split, spot-check sampling, plan files."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.campaign.plan import DEFAULT_PLAN, load_plan
from fleet.campaign.rules import (
    DEFAULT_PRICING,
    CostSplit,
    Pricing,
    RuleError,
    cost_split,
    sample_size,
    site_needs,
    split_amount,
    spot_check_sample,
)


@pytest.mark.parametrize(("category", "supply", "kinds", "missing", "encouraged_missing"), [
    ("non_residential", "pipeline", [], ("alarm", "shutoff", "hose"), ()),
    ("non_residential", "lpg", ["alarm_shutoff", "hose"], (), ()),
    ("non_residential", "pipeline", ["alarm", "hose"], ("shutoff",), ()),
    ("residential", "pipeline", ["hose"], ("self_closing_valve",), ("alarm",)),
    ("residential", "pipeline", ["self_closing_valve", "hose", "alarm"], (), ()),
    ("residential", "lpg", ["hose"], (), ("alarm",)),
    ("residential", "lpg", ["meter"], ("hose",), ("alarm",)),
])
def test_site_needs__valid(category: str, supply: str, kinds: list[str], missing: tuple, encouraged_missing: tuple) -> None:
    needs = site_needs(category, supply, kinds)
    assert (needs.missing, needs.encouraged_missing, needs.compliant) == (missing, encouraged_missing, not missing)


def test_site_needs__invalid() -> None:
    with pytest.raises(RuleError, match="no requirement rule for category 'business', supply 'pipeline'"):
        site_needs("business", "pipeline", [])
    with pytest.raises(RuleError, match="unknown asset kind 'rubber_hose'"):
        site_needs("residential", "lpg", ["rubber_hose"])


def test_cost_split__residential_household_240_is_80_80_80() -> None:
    assert DEFAULT_PRICING.household_fen == 24000
    assert cost_split("residential", ["self_closing_valve", "hose"]) == CostSplit(24000, 8000, 8000, 8000)


def test_cost_split__valve_only_in_proportion_and_hose_only() -> None:
    assert cost_split("residential", ["self_closing_valve"]) == CostSplit(18000, 6000, 6000, 6000)
    assert cost_split("residential", ["hose"]) == CostSplit(6000, 2000, 2000, 2000)


def test_cost_split__tender_price_and_encouraged_alarm() -> None:
    tender = Pricing(item_price_fen={"self_closing_valve": 17501, "hose": 6000, "alarm": 9900})
    split = cost_split("residential", ["self_closing_valve", "hose", "alarm"], tender)
    # 23501 subsidised: 7833 / 7834 / 7834 (the odd fen falls to the user), plus the alarm for the user
    assert split == CostSplit(33401, 7833, 7834, 7834 + 9900)


def test_cost_split__replacement_is_the_users() -> None:
    # A valve past its life is replaced at the user's cost; a first hose in the same visit is subsidised.
    assert cost_split("residential", ["self_closing_valve", "hose"], replacing=["self_closing_valve"]) == CostSplit(
        24000, 2000, 2000, 2000 + 18000)


def test_cost_split__non_residential_pays_own() -> None:
    assert cost_split("non_residential", ["alarm_shutoff", "hose"], total_fen=150000) == CostSplit(150000, 0, 0, 150000)
    assert cost_split("non_residential", ["hose"]) == CostSplit(6000, 0, 0, 6000)


def test_cost_split__invalid() -> None:
    with pytest.raises(RuleError, match="unknown asset kind 'valve'"):
        cost_split("residential", ["valve"])
    with pytest.raises(RuleError, match="category 'shop'"):
        cost_split("shop", ["hose"])
    with pytest.raises(RuleError, match="item_price_fen\\['pipe'\\]: unknown asset kind"):
        Pricing(item_price_fen={"pipe": 1})
    with pytest.raises(RuleError, match="shares \\[0, 0, 0\\]"):
        Pricing(item_price_fen={}, shares=(0, 0, 0))


@given(st.integers(min_value=0, max_value=10**9), st.lists(st.integers(0, 50), min_size=1, max_size=5)
       .filter(lambda s: sum(s) > 0))
def test_split_amount__exact_and_fair(amount: int, shares: list[int]) -> None:
    parts = split_amount(amount, shares)
    assert sum(parts) == amount
    total = sum(shares)
    for p, s in zip(parts, shares, strict=True):
        assert abs(p - amount * s / total) < 1


def test_sample__reproducible_per_township_and_sized() -> None:
    pop = {"城关镇": range(1, 101), "广武镇": [7, 3, 5]}
    a = spot_check_sample(pop, seed="2023-12", rate=0.05, minimum=5)
    b = spot_check_sample({"广武镇": [5, 3, 7], "城关镇": list(range(100, 0, -1))}, seed="2023-12", rate=0.05, minimum=5)
    assert a == b  # order of input and other townships do not matter
    assert len(a["城关镇"]) == 5 and set(a["城关镇"]) <= set(range(1, 101))
    assert a["广武镇"] == [3, 5, 7]  # fewer than the minimum: all of them
    assert spot_check_sample(pop, seed="other", rate=0.05, minimum=5)["城关镇"] != a["城关镇"]
    assert sample_size(1000, 0.05, 5) == 50
    with pytest.raises(RuleError, match="spot-check rate 1.5"):
        sample_size(10, 1.5, 1)


def test_plan__defaults_from_standards() -> None:
    assert [(s.key, s.deadline) for s in DEFAULT_PLAN.stages] == [
        ("ledger", date(2022, 4, 20)), ("pilot", date(2022, 4, 30)), ("non_residential", date(2022, 6, 30)),
        ("residential", date(2023, 10, 31)), ("self_check", date(2023, 11, 30)), ("spot_check", date(2023, 12, 31))]
    assert DEFAULT_PLAN.restore_hours == 24


def test_plan__file_overrides_and_errors(tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "plan.toml"
    f.write_text("restore_hours = 12\n[deadlines]\nresidential = 2024-06-30\n[prices_fen]\nself_closing_valve = 20000\n"
                 "[spot_check]\nrate = 0.1\nminimum = 2\n", encoding="utf-8")
    plan = load_plan(f)
    assert plan.stage("residential").deadline == date(2024, 6, 30)
    assert plan.stage("ledger").deadline == date(2022, 4, 20)
    assert plan.pricing.household_fen == 26000
    assert (plan.spot_check_rate, plan.spot_check_minimum, plan.restore_hours) == (0.1, 2, 12)
    assert plan.lifecycle.lead_days["calibration_due"] == 30  # no [lifecycle]: the defaults
    f.write_text("[lifecycle]\nappliance_life_days = 3650\n[lifecycle.lead_days]\ncalibration_due = 45\n",
                 encoding="utf-8")
    life = load_plan(f).lifecycle
    assert (life.appliance_life_days, life.lead_days["calibration_due"], life.lead_days["hose_eol"]) == (3650, 45, 90)
    f.write_text("[lifecycle.lead_days]\ncalibration = 45\n", encoding="utf-8")
    with pytest.raises(RuleError, match="lead_days\\['calibration'\\]: unknown work-order kind"):
        load_plan(f)
    f.write_text("[lifecycle]\nlead = 3\n", encoding="utf-8")
    with pytest.raises(RuleError, match="\\[lifecycle\\]: unknown key\\(s\\) lead"):
        load_plan(f)
    f.write_text("[deadlines]\nhouses = 2024-06-30\n", encoding="utf-8")
    with pytest.raises(RuleError, match="deadlines.houses: no such stage; stages: ledger, pilot"):
        load_plan(f)
    f.write_text("[deadline]\n", encoding="utf-8")
    with pytest.raises(RuleError, match="unknown section\\(s\\) deadline"):
        load_plan(f)
    with pytest.raises(RuleError, match="plan file not found"):
        load_plan(tmp_path / "nope.toml")
