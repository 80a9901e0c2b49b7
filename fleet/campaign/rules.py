"""Campaign rules as pure functions: what a site must have, how an install's cost is split, and
which sites the city spot-checks.

The requirement table is the one in STANDARDS.md "Campaign rules"; `fleet.campaign.service`
turns the same table into SQL for the 200,000-site progress query, so there is one definition.

Money is integer fen (分, 1/100 yuan) throughout: no float ever touches a subsidy."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# What a site needs, by (category, supply). "shutoff" is the linked emergency shutoff valve.
NEEDS = ("alarm", "shutoff", "self_closing_valve", "hose")

# Asset kind -> the needs it satisfies (a combined alarm+shutoff counts as both).
SATISFIES: dict[str, frozenset[str]] = {
    "alarm": frozenset({"alarm"}),
    "shutoff": frozenset({"shutoff"}),
    "alarm_shutoff": frozenset({"alarm", "shutoff"}),
    "self_closing_valve": frozenset({"self_closing_valve"}),
    "hose": frozenset({"hose"}),
    "meter": frozenset(),
}

CATEGORIES = ("residential", "non_residential")
SUPPLIES = ("pipeline", "lpg")


@dataclass(frozen=True)
class Requirement:
    required: tuple[str, ...]
    encouraged: tuple[str, ...] = ()


REQUIREMENTS: dict[tuple[str, str], Requirement] = {
    # Non-residential users, pipeline and bottled LPG: leak alarm + linked shutoff + metal hose.
    ("non_residential", "pipeline"): Requirement(("alarm", "shutoff", "hose")),
    ("non_residential", "lpg"): Requirement(("alarm", "shutoff", "hose")),
    # Residential pipeline: self-closing valve + metal hose; an alarm is encouraged, not required.
    ("residential", "pipeline"): Requirement(("self_closing_valve", "hose"), ("alarm",)),
    # Residential bottled LPG: metal hose; an alarm is encouraged.
    ("residential", "lpg"): Requirement(("hose",), ("alarm",)),
}


class RuleError(ValueError):
    """Input a campaign rule cannot use; the message names it."""


def requirement(category: str, supply: str) -> Requirement:
    try:
        return REQUIREMENTS[(category, supply)]
    except KeyError:
        raise RuleError(f"no requirement rule for category {category!r}, supply {supply!r}; "
                        f"categories: {', '.join(CATEGORIES)}; supplies: {', '.join(SUPPLIES)}") from None


@dataclass(frozen=True)
class SiteNeeds:
    """One site's picture: what it must have, has, lacks, and what is encouraged but absent."""

    must: tuple[str, ...]
    has: tuple[str, ...]
    missing: tuple[str, ...]
    encouraged_missing: tuple[str, ...]

    @property
    def compliant(self) -> bool:
        return not self.missing


def site_needs(category: str, supply: str, asset_kinds: Iterable[str]) -> SiteNeeds:
    """Compare a site's installed (in-service) asset kinds with its requirement rule."""
    rule = requirement(category, supply)
    covered: set[str] = set()
    for kind in asset_kinds:
        if kind not in SATISFIES:
            raise RuleError(f"unknown asset kind {kind!r}; known: {', '.join(SATISFIES)}")
        covered |= SATISFIES[kind]
    has = tuple(n for n in NEEDS if n in covered)
    return SiteNeeds(
        must=rule.required,
        has=has,
        missing=tuple(n for n in rule.required if n not in covered),
        encouraged_missing=tuple(n for n in rule.encouraged if n not in covered),
    )


# --- cost split -------------------------------------------------------------------------------

PARTIES = ("city", "gas_company", "user")


@dataclass(frozen=True)
class CostSplit:
    """An install's cost in fen and who pays what. The parts always add up to `total_fen`."""

    total_fen: int
    city_fen: int
    gas_company_fen: int
    user_fen: int

    def as_dict(self) -> dict[str, int]:
        return {"total_fen": self.total_fen, "city_fen": self.city_fen,
                "gas_company_fen": self.gas_company_fen, "user_fen": self.user_fen}


def split_amount(amount_fen: int, shares: Sequence[int]) -> list[int]:
    """Split `amount_fen` in proportion to integer `shares`, exactly (largest remainder; ties go
    to the later party, so a leftover fen falls to the user rather than to public money)."""
    if amount_fen < 0:
        raise RuleError(f"amount {amount_fen} fen: must be >= 0")
    if not shares or any(s < 0 for s in shares) or sum(shares) == 0:
        raise RuleError(f"shares {list(shares)}: need non-negative integers with a positive sum")
    total = sum(shares)
    parts = [amount_fen * s // total for s in shares]
    remainders = [(amount_fen * s % total, i) for i, s in enumerate(shares)]
    for _, i in sorted(remainders, reverse=True)[: amount_fen - sum(parts)]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class Pricing:
    """Tender prices and the residential subsidy split (configurable; see docs/campaign.md).

    STANDARDS: 240 yuan per residential household (self-closing valve + metal hose), split
    80 city / 80 gas company / 80 resident; a valve-only install in proportion; the tender price
    settles the final figure. How the 240 divides between valve and hose is not published: the
    default 180 + 60 is ours and is meant to be replaced by the tender's figures."""

    item_price_fen: Mapping[str, int]
    subsidised_kinds: frozenset[str] = frozenset({"self_closing_valve", "hose"})
    shares: tuple[int, int, int] = (1, 1, 1)  # city, gas company, user

    def __post_init__(self) -> None:
        for kind, price in self.item_price_fen.items():
            if kind not in SATISFIES:
                raise RuleError(f"item_price_fen[{kind!r}]: unknown asset kind; known: {', '.join(SATISFIES)}")
            if price < 0:
                raise RuleError(f"item_price_fen[{kind!r}] = {price}: must be >= 0")
        if len(self.shares) != 3:
            raise RuleError(f"shares {self.shares}: need three (city, gas company, user)")
        split_amount(0, self.shares)  # validates the shares

    @property
    def household_fen(self) -> int:
        """The full residential package price (valve + hose): 24000 fen by default."""
        return sum(self.item_price_fen.get(k, 0) for k in sorted(self.subsidised_kinds))


DEFAULT_PRICING = Pricing(item_price_fen={"self_closing_valve": 18000, "hose": 6000})


def cost_split(category: str, kinds: Iterable[str], pricing: Pricing = DEFAULT_PRICING,
               *, total_fen: int | None = None, replacing: Iterable[str] = ()) -> CostSplit:
    """Who pays for an install of `kinds` at a site of `category`.

    Residential: subsidised items at their tender price, split by `pricing.shares` (so a full
    valve + hose package is 80/80/80 yuan and a valve-only install is the valve's part of it, split
    the same way); other items (an encouraged alarm) fall to the resident. An item that replaces
    one already in service (`replacing`: a valve or hose past its life) is the user's, at its full
    price (STANDARDS "end of life": replaced by the user, at the user's cost); the subsidy pays
    for the campaign's first install only. Non-residential: the user pays everything,
    `total_fen` if given (their own contract) else the catalogue prices."""
    kinds = list(kinds)
    replacing = set(replacing)
    for kind in [*kinds, *replacing]:
        if kind not in SATISFIES:
            raise RuleError(f"unknown asset kind {kind!r}; known: {', '.join(SATISFIES)}")
    if category not in CATEGORIES:
        raise RuleError(f"category {category!r}: expected one of {', '.join(CATEGORIES)}")
    if total_fen is not None and total_fen < 0:
        raise RuleError(f"total_fen {total_fen}: must be >= 0")
    if category == "non_residential":
        total = total_fen if total_fen is not None else sum(pricing.item_price_fen.get(k, 0) for k in kinds)
        return CostSplit(total, 0, 0, total)
    def free(k: str) -> bool:
        return k in pricing.subsidised_kinds and k not in replacing

    subsidised = sum(pricing.item_price_fen.get(k, 0) for k in kinds if free(k))
    other = sum(pricing.item_price_fen.get(k, 0) for k in kinds if not free(k))
    city, gas, user = split_amount(subsidised, pricing.shares)
    return CostSplit(subsidised + other, city, gas, user + other)


# --- acceptance sampling ----------------------------------------------------------------------

def sample_size(population: int, rate: float, minimum: int) -> int:
    """How many of `population` installed sites the city checks: ceil(rate × n), at least
    `minimum`, at most n."""
    if not 0 <= rate <= 1:
        raise RuleError(f"spot-check rate {rate}: must be between 0 and 1")
    if minimum < 0:
        raise RuleError(f"spot-check minimum {minimum}: must be >= 0")
    return min(population, max(minimum, math.ceil(rate * population)))


def spot_check_sample(sites_by_township: Mapping[str, Iterable[int]], *, seed: str | int,
                      rate: float, minimum: int) -> dict[str, list[int]]:
    """The city's random spot-check sample per township, reproducible from `seed`.

    Each township draws from its own generator seeded with (seed, township) over its site ids in
    ascending order, so the sample does not depend on the order rows came from the database, nor
    on which other townships are in the draw."""
    out: dict[str, list[int]] = {}
    for township in sorted(sites_by_township):
        ids = sorted(set(sites_by_township[township]))
        rng = random.Random(f"{seed}|{township}")
        out[township] = sorted(rng.sample(ids, sample_size(len(ids), rate, minimum)))
    return out
