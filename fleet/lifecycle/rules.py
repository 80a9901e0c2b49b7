"""Due dates and work-order triggers for installed items, as pure functions of dates.

Why pure: the rules carry the standards' numbers and are easy to get wrong by a day, so they are
tested without a database; `fleet.lifecycle.service` feeds them rows and stores what they say.

Numbers (see docs/campaign.md and ../shared/STANDARDS.md):
- calibration (检定) interval: the model's, but never longer than 12 months (JJG 693-2011); a
  model with none gets the maximum;
- sensor end of life: the model's sensor life from the install date (GB 15322.2 §3.3.1.3);
- self-closing valve service life: *open* in the standards (CJ/T 447 draft), so it comes from
  the model only; a valve whose model has none gets no end-of-life date and is reported as
  "service life not set", never a guessed 8 or 10 years;
- metal hose: its own rated life, which must not be shorter than the appliance's (GB 55009
  §6.1.7, stoves 8 years, configurable); a hose model without one gets the appliance's life.

What this module is not: it does not decide who pays (the work-order kind says "user" for a
self-closing valve past its life, STANDARDS "end of life") and it does not read the clock; the
caller passes `today`."""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

# Kinds of product model (fleet.store.models.ProductKind values), as plain strings.
DETECTOR_KINDS = frozenset({"alarm", "alarm_shutoff"})
VALVE_KIND = "self_closing_valve"
HOSE_KIND = "hose"

JJG_693_MAX_INTERVAL_DAYS = 365
"""JJG 693-2011: a combustible-gas detector is verified at least every 12 months."""

APPLIANCE_LIFE_DAYS = 8 * 365
"""GB 17905-2008: a household gas stove's life is 8 years from sale; a hose must last as long."""


class WorkOrderKind(str, enum.Enum):
    """Why a work order exists. `payer` says who bears the cost of the work."""

    calibration_due = "calibration_due"
    sensor_eol = "sensor_eol"
    valve_eol = "valve_eol"
    hose_eol = "hose_eol"
    device_offline = "device_offline"
    device_fault = "device_fault"

    @property
    def payer(self) -> str:
        # STANDARDS "end of life": a self-closing valve past its life is replaced at the user's cost.
        return "user" if self is WorkOrderKind.valve_eol else "operator"


# Days before the due date at which a work order is raised. Ours, configurable.
DEFAULT_LEAD_DAYS: dict[str, int] = {
    WorkOrderKind.calibration_due.value: 30,
    WorkOrderKind.sensor_eol.value: 60,
    WorkOrderKind.valve_eol.value: 90,
    WorkOrderKind.hose_eol.value: 90,
}


class RuleError(ValueError):
    """A lifecycle rule was given something it cannot work with (named in the message)."""


@dataclass(frozen=True)
class Policy:
    """The tunable numbers of the lifecycle rules, with the standards' values as defaults."""

    max_calibration_interval_days: int = JJG_693_MAX_INTERVAL_DAYS
    appliance_life_days: int = APPLIANCE_LIFE_DAYS
    lead_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LEAD_DAYS))

    def __post_init__(self) -> None:
        if not 1 <= self.max_calibration_interval_days <= JJG_693_MAX_INTERVAL_DAYS:
            raise RuleError(
                f"max_calibration_interval_days = {self.max_calibration_interval_days}: "
                f"JJG 693 allows 1..{JJG_693_MAX_INTERVAL_DAYS} days"
            )
        if self.appliance_life_days <= 0:
            raise RuleError(f"appliance_life_days = {self.appliance_life_days}: must be > 0")
        for kind, days in self.lead_days.items():
            if kind not in WorkOrderKind._value2member_map_:
                raise RuleError(f"lead_days[{kind!r}]: unknown work-order kind; known: "
                                + ", ".join(k.value for k in WorkOrderKind))
            if days < 0:
                raise RuleError(f"lead_days[{kind!r}] = {days}: must be >= 0")

    def lead(self, kind: WorkOrderKind) -> timedelta:
        return timedelta(days=self.lead_days.get(kind.value, 0))


def policy_from_mapping(data: Mapping[str, object], where: str = "[lifecycle]") -> Policy:
    """A Policy from a config table (the plan file's `[lifecycle]`), over the defaults:
    `max_calibration_interval_days`, `appliance_life_days`, and `[lifecycle.lead_days]`."""
    known = {"max_calibration_interval_days", "appliance_life_days", "lead_days"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    lead = data.get("lead_days", {})
    if not isinstance(lead, Mapping):
        raise RuleError(f"{where}.lead_days must be a table of kind = days")
    defaults = Policy()
    try:
        return Policy(
            max_calibration_interval_days=int(data.get("max_calibration_interval_days",  # type: ignore[call-overload]
                                                       defaults.max_calibration_interval_days)),
            appliance_life_days=int(data.get("appliance_life_days", defaults.appliance_life_days)),  # type: ignore[call-overload]
            lead_days={**DEFAULT_LEAD_DAYS, **{str(k): int(v) for k, v in lead.items()}},
        )
    except (TypeError, ValueError) as e:
        raise RuleError(f"{where}: {e}") from None


@dataclass(frozen=True)
class ModelLife:
    """What the catalogue says about a product model's life (days; None = not stated)."""

    kind: str
    calibration_interval_days: int | None = None
    sensor_life_days: int | None = None
    service_life_days: int | None = None


@dataclass(frozen=True)
class ItemDates:
    """The dates of one installed item. None = does not apply (or, for a valve, not set)."""

    calibration_due: date | None
    sensor_eol: date | None
    service_eol: date | None
    problems: tuple[str, ...] = ()


def calibration_interval(model: ModelLife, policy: Policy = Policy()) -> int | None:
    """Days between calibrations for a detector model (None for kinds that are not calibrated)."""
    if model.kind not in DETECTOR_KINDS:
        return None
    interval = model.calibration_interval_days or policy.max_calibration_interval_days
    return min(interval, policy.max_calibration_interval_days)


def model_problems(model: ModelLife, policy: Policy = Policy()) -> list[str]:
    """What is wrong with a catalogue entry against the rules (empty when nothing is)."""
    problems = []
    for name in ("calibration_interval_days", "sensor_life_days", "service_life_days"):
        value = getattr(model, name)
        if value is not None and value <= 0:
            problems.append(f"{name} = {value}: must be > 0 days")
    ci = model.calibration_interval_days
    if model.kind in DETECTOR_KINDS and ci is not None and ci > policy.max_calibration_interval_days:
        problems.append(
            f"calibration_interval_days = {ci}: JJG 693 allows at most "
            f"{policy.max_calibration_interval_days}; {policy.max_calibration_interval_days} is used"
        )
    if model.kind == HOSE_KIND and model.service_life_days is not None \
            and model.service_life_days < policy.appliance_life_days:
        problems.append(
            f"service_life_days = {model.service_life_days}: a metal hose must last at least as long "
            f"as the appliance ({policy.appliance_life_days} days, GB 55009 §6.1.7)"
        )
    if model.kind == VALVE_KIND and model.service_life_days is None:
        problems.append("service_life_days not set: a self-closing valve's life comes from its model "
                        "(CJ/T 447 fixes none); set it in the catalogue")
    return problems


def item_dates(model: ModelLife, installed_on: date, *, last_calibrated_on: date | None = None,
               policy: Policy = Policy()) -> ItemDates:
    """Calibration due, sensor end of life and service end of life of one installed item.

    The calibration clock runs from the last passed calibration, or from the install date."""
    if not isinstance(installed_on, date):
        raise RuleError(f"installed_on = {installed_on!r}: expected a date")
    if last_calibrated_on is not None and last_calibrated_on < installed_on:
        raise RuleError(f"last_calibrated_on {last_calibrated_on} is before installed_on {installed_on}")
    interval = calibration_interval(model, policy)
    calibration_due = None
    if interval is not None:
        calibration_due = (last_calibrated_on or installed_on) + timedelta(days=interval)
    sensor_eol = None
    if model.kind in DETECTOR_KINDS and model.sensor_life_days:
        sensor_eol = installed_on + timedelta(days=model.sensor_life_days)
    service_eol = None
    if model.kind == HOSE_KIND:
        service_eol = installed_on + timedelta(days=model.service_life_days or policy.appliance_life_days)
    elif model.service_life_days:
        service_eol = installed_on + timedelta(days=model.service_life_days)
    return ItemDates(calibration_due, sensor_eol, service_eol, tuple(model_problems(model, policy)))


@dataclass(frozen=True)
class Due:
    """A work order the rules ask for: what, for which item, due when."""

    kind: WorkOrderKind
    due_on: date


def dues(model: ModelLife, dates: ItemDates) -> list[Due]:
    """The dated work orders an item will need, whatever today is."""
    out: list[Due] = []
    if dates.calibration_due is not None:
        out.append(Due(WorkOrderKind.calibration_due, dates.calibration_due))
    if dates.sensor_eol is not None:
        out.append(Due(WorkOrderKind.sensor_eol, dates.sensor_eol))
    if dates.service_eol is not None:
        if model.kind == VALVE_KIND:
            out.append(Due(WorkOrderKind.valve_eol, dates.service_eol))
        elif model.kind == HOSE_KIND:
            out.append(Due(WorkOrderKind.hose_eol, dates.service_eol))
    return out


def raised(due_list: Iterable[Due], today: date, policy: Policy = Policy()) -> list[Due]:
    """Those of `due_list` whose work order should exist by `today` (due date minus lead time)."""
    return [d for d in due_list if today >= d.due_on - policy.lead(d.kind)]


def add_months(day: date, months: int) -> date:
    """`day` plus whole calendar months, clamped to the month's last day (Jan 31 + 1 = Feb 28)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
