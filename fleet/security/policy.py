"""Who may use each route: the table every route of the app must appear in.

Keys are "METHOD /path/template" exactly as the app registers them (HEAD follows GET). A route
missing here is refused to everyone but the city administrator at run time, and
tests/fleet/security/test_security_routes.py fails until a row is added, so a new route is
never open by accident.

Township staff are always scoped: their requests see only their own township's sites, devices,
alarms, events, commands and reports (fleet/security/scope.py), and a record of another township
named in the path answers 404, as if it did not exist."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.security.roles import ALL_ROLES, Role


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    public: bool = False  # no sign-in at all (the login page only)
    enrolment: bool = False  # an installer's enrolment token may use it too (gasguard provision)


def _with_enrolment(rule: Rule) -> Rule:
    return Rule(rule.roles, enrolment=True)


def _r(*roles: Role) -> Rule:
    return Rule(frozenset(r.value for r in roles))


A, V, T, O, I, M = Role.admin, Role.viewer, Role.township, Role.operator, Role.installer, Role.maker

ADMIN = _r(A)
SIGNED_IN = Rule(ALL_ROLES)
PUBLIC = Rule(frozenset(), public=True)
ENROLMENT = Rule(frozenset(), enrolment=True)
READ_CITY = _r(A, V, O)  # fleet-wide numbers and the service itself
READ = _r(A, V, O, T)  # records a township sees its own part of
ALARM_ACT = _r(A, O, T)  # acknowledge / resolve
OPS = _r(A, O)  # commands, polls, devices, sites, enrolment tokens, supply stops
CAMPAIGN_ACT = _r(A, O, T)  # inspections, findings, ledger import, work orders
INSTALL = _r(A, O, T, I)  # recording installs at a site
CATALOGUE_READ = _r(A, V, O, T, I, M)

ROUTES: dict[str, Rule] = {
    # FastAPI's own pages: the API description is for signed-in users
    "GET /openapi.json": SIGNED_IN,
    "GET /docs": SIGNED_IN,
    "GET /docs/oauth2-redirect": SIGNED_IN,
    "GET /redoc": SIGNED_IN,
    # fleet core API
    "GET /api/v1/devices": READ,
    "POST /api/v1/devices": OPS,
    "GET /api/v1/devices/{device_id}": READ,
    "PATCH /api/v1/devices/{device_id}": OPS,
    "GET /api/v1/devices/{device_id}/events": READ,
    "GET /api/v1/devices/{device_id}/readings": READ,
    "GET /api/v1/devices/{device_id}/gaps": READ,
    "POST /api/v1/devices/{device_id}/poll": OPS,
    "GET /api/v1/models": CATALOGUE_READ,
    "POST /api/v1/models": ADMIN,
    "GET /api/v1/models/{model_id}": CATALOGUE_READ,
    "PATCH /api/v1/models/{model_id}": ADMIN,
    "GET /api/v1/sites": READ,
    "POST /api/v1/sites": OPS,
    "GET /api/v1/sites/{site_id}": READ,
    "PATCH /api/v1/sites/{site_id}": OPS,
    "GET /api/v1/events": READ,
    "GET /api/v1/alarms": READ,
    "GET /api/v1/alarms/{alarm_id}": READ,
    "POST /api/v1/alarms/{alarm_id}/ack": ALARM_ACT,
    "POST /api/v1/alarms/{alarm_id}/resolve": ALARM_ACT,
    "GET /api/v1/alarms/{alarm_id}/audit": READ,
    "GET /api/v1/commands": READ,
    "POST /api/v1/commands": OPS,
    "GET /api/v1/commands/{command_id}": READ,
    "POST /api/v1/commands/{command_id}/send": OPS,
    "POST /api/v1/commands/{command_id}/cancel": OPS,
    "GET /api/v1/audit": ADMIN,
    "GET /api/v1/health": READ_CITY,
    "GET /api/v1/ingest-errors": READ_CITY,
    # lifecycle
    "GET /api/v1/workorders": READ,
    "POST /api/v1/workorders/raise": OPS,
    "POST /api/v1/workorders/{wo_id}/{action}": CAMPAIGN_ACT,
    "GET /api/v1/assets/{asset_id}/lifecycle": READ,
    "POST /api/v1/assets/{asset_id}/calibrations": CAMPAIGN_ACT,
    # campaign
    "GET /api/v1/campaign/progress": READ,
    "GET /api/v1/campaign/sites/{site_id}/needs": _r(A, V, O, T, I),
    "POST /api/v1/campaign/installs": INSTALL,
    "POST /api/v1/campaign/inspections": CAMPAIGN_ACT,
    "GET /api/v1/campaign/spot-check": READ,
    "POST /api/v1/campaign/findings/{finding_id}/rectify": CAMPAIGN_ACT,
    "POST /api/v1/campaign/findings/{finding_id}/close": CAMPAIGN_ACT,
    "POST /api/v1/campaign/supply-stops": OPS,
    "POST /api/v1/campaign/supply-stops/{stop_id}/hazard-removed": OPS,
    "POST /api/v1/campaign/supply-stops/{stop_id}/restore": OPS,
    "GET /api/v1/campaign/non-compliant": READ,
    # provisioning: operators issue enrolment tokens; the installer's tool uses one (bound to
    # the devices it enrols: see fleet/security/enrolment.py)
    "POST /api/v1/provision/tokens": OPS,
    "POST /api/v1/provision/tokens/{token_id}/revoke": OPS,
    "POST /api/v1/provision/devices/{device_id}/key": ENROLMENT,
    "POST /api/v1/provision/devices/{device_id}/acceptance": ENROLMENT,
    "GET /api/v1/provision/devices/{device_id}/acceptance": ENROLMENT,
    "GET /api/v1/provision/devices/{device_id}/status": ENROLMENT,
    # manufacturing records: `gasguard flash` posts them with a maker's token (fleet/manufacturing)
    "POST /api/v1/manufacturing": _r(M),
    "GET /api/v1/manufacturing": _r(A, M),
    # security (this package)
    "GET /api/v1/security/me": SIGNED_IN,
    "GET /api/v1/security/users": ADMIN,
    "POST /api/v1/security/users": ADMIN,
    "PATCH /api/v1/security/users/{username}": ADMIN,
    "POST /api/v1/security/users/{username}/tokens": ADMIN,
    "POST /api/v1/security/tokens/{token_id}/revoke": ADMIN,
    "POST /api/v1/security/enrolment-tokens": OPS,
    "GET /api/v1/security/audit.csv": ADMIN,
    "GET /api/v1/security/audit.xlsx": ADMIN,
    # dashboard pages
    "GET /": READ,
    "GET /devices/{device_id}": READ,
    "POST /alarms/{alarm_id}/ack": ALARM_ACT,
    "POST /alarms/{alarm_id}/resolve": ALARM_ACT,
    "GET /workorders": READ,
    "POST /workorders/{wo_id}/assign": CAMPAIGN_ACT,
    "POST /workorders/{wo_id}/done": CAMPAIGN_ACT,
    "POST /workorders/{wo_id}/close": CAMPAIGN_ACT,
    "GET /campaign": READ,
    "GET /campaign/sites": _r(A, V, O, T, I),
    "GET /campaign/non-compliant": READ,
    "GET /campaign/report": READ,
    "GET /campaign/report.xlsx": READ,
    "GET /campaign/report.pdf": READ,
    "GET /campaign/ledger": READ,
    "POST /campaign/ledger": CAMPAIGN_ACT,
    "GET /campaign/ledger/template.xlsx": READ,
    "GET /campaign/ledger/export.xlsx": READ,
    "GET /campaign/sites/{site_id}": _r(A, V, O, T, I),
    "POST /campaign/sites/{site_id}/install": INSTALL,
    "POST /campaign/sites/{site_id}/inspect": CAMPAIGN_ACT,
    "POST /campaign/findings/{finding_id}/{action}": CAMPAIGN_ACT,
    "POST /campaign/sites/{site_id}/stop": OPS,
    "POST /campaign/stops/{stop_id}/{action}": OPS,
    "GET /campaign/spot-check": READ,
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": SIGNED_IN,
    "GET /audit": ADMIN,
}

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def rule_for(method: str, path_template: str) -> Rule | None:
    m = "GET" if method == "HEAD" else method
    return ROUTES.get(f"{m} {path_template}")
