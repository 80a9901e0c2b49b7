"""The safety-device campaign: ledgers (台账), requirement rules, installs and their cost split,
acceptance checks, progress per township, ranking, non-compliance, monthly reports, pages.

`rules` and `plan` are pure; `models` holds the install, inspection, finding and supply-stop
tables; `ledger`, `service` and `report` work on the store; `cli` is `gasguard ledger` and
`gasguard report`; `pages` and `api` are FastAPI routers the fleet app mounts."""
