"""The campaign plan: stages with deadlines, prices, spot-check sampling. Data, not code.

The defaults are the Xingyang plan in STANDARDS.md "Campaign rules". Another city (or a revised
plan) is a TOML file passed as `--plan FILE` or `GASGUARD_CAMPAIGN_PLAN`:

    [deadlines]            # stage = YYYY-MM-DD
    residential = 2024-06-30
    [prices_fen]           # asset kind = tender price in fen
    self_closing_valve = 17500
    hose = 6500
    [spot_check]
    rate = 0.05
    minimum = 5
    [shares]               # city, gas_company, user
    city = 1
    gas_company = 1
    user = 1
    [lifecycle]            # work orders (fleet.lifecycle.rules.Policy)
    appliance_life_days = 2920
    [lifecycle.lead_days]  # days before the due date
    calibration_due = 30
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from fleet.campaign.rules import DEFAULT_PRICING, Pricing, RuleError
from fleet.lifecycle.rules import Policy, policy_from_mapping
from fleet.lifecycle.rules import RuleError as LifecycleRuleError

PLAN_ENV = "GASGUARD_CAMPAIGN_PLAN"


@dataclass(frozen=True)
class Stage:
    """One stage of the plan. `measure` names how progress is counted (fleet.campaign.service)."""

    key: str
    zh: str
    en: str
    deadline: date
    measure: str


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage("ledger", "建立台账", "Ledgers", date(2022, 4, 20), "ledger"),
    Stage("pilot", "试点安装", "Pilots", date(2022, 4, 30), "pilot"),
    Stage("non_residential", "非居民用户完成安装并验收", "Non-residential installed and accepted",
          date(2022, 6, 30), "non_residential"),
    Stage("residential", "居民用户完成安装", "Residential installed", date(2023, 10, 31), "residential"),
    Stage("self_check", "乡镇自查", "Township self-check", date(2023, 11, 30), "self_check"),
    Stage("spot_check", "市级抽查及排名", "City spot-check and ranking", date(2023, 12, 31), "spot_check"),
)


@dataclass(frozen=True)
class Plan:
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    pricing: Pricing = DEFAULT_PRICING
    spot_check_rate: float = 0.05  # ours: 5 % of installed sites per township
    spot_check_minimum: int = 5  # ours: at least 5 per township (all, if fewer)
    restore_hours: int = 24  # STANDARDS: supply restored within 24 h after the hazard is removed
    lifecycle: Policy = field(default_factory=Policy)

    def stage(self, key: str) -> Stage:
        for s in self.stages:
            if s.key == key:
                return s
        raise RuleError(f"no stage {key!r}; stages: {', '.join(s.key for s in self.stages)}")


DEFAULT_PLAN = Plan()


def _date(path: Path, key: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RuleError(f"{path}: deadlines.{key} = {value!r}: expected a date YYYY-MM-DD") from None


def load_plan(path: str | Path | None = None) -> Plan:
    """The plan from `path` (or $GASGUARD_CAMPAIGN_PLAN), over the defaults; no file = defaults."""
    path = path or os.environ.get(PLAN_ENV)
    if not path:
        return DEFAULT_PLAN
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleError(f"{p}: plan file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise RuleError(f"{p}: not valid TOML: {e}") from None
    known = ("deadlines", "prices_fen", "spot_check", "shares", "restore_hours", "lifecycle")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise RuleError(f"{p}: unknown section(s) {', '.join(unknown)}; known: {', '.join(known)}")
    plan = DEFAULT_PLAN
    deadlines = data.get("deadlines", {})
    keys = [s.key for s in plan.stages]
    for key in deadlines:
        if key not in keys:
            raise RuleError(f"{p}: deadlines.{key}: no such stage; stages: {', '.join(keys)}")
    stages = tuple(replace(s, deadline=_date(p, s.key, deadlines[s.key])) if s.key in deadlines else s
                   for s in plan.stages)
    pricing = plan.pricing
    if "prices_fen" in data or "shares" in data:
        prices = {**pricing.item_price_fen, **data.get("prices_fen", {})}
        sh = data.get("shares", {})
        shares = (int(sh.get("city", pricing.shares[0])), int(sh.get("gas_company", pricing.shares[1])),
                  int(sh.get("user", pricing.shares[2])))
        pricing = Pricing(item_price_fen=prices, subsidised_kinds=pricing.subsidised_kinds, shares=shares)
    sc = data.get("spot_check", {})
    return replace(plan, stages=stages, pricing=pricing,
                   spot_check_rate=float(sc.get("rate", plan.spot_check_rate)),
                   spot_check_minimum=int(sc.get("minimum", plan.spot_check_minimum)),
                   restore_hours=int(data.get("restore_hours", plan.restore_hours)),
                   lifecycle=_lifecycle(p, data))


def _lifecycle(p: Path, data: dict[str, Any]) -> Policy:
    if "lifecycle" not in data:
        return DEFAULT_PLAN.lifecycle
    try:
        return policy_from_mapping(data["lifecycle"], f"{p}: [lifecycle]")
    except LifecycleRuleError as e:
        raise RuleError(str(e)) from None
