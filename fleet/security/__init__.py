"""Who may do what in the fleet's HTTP API and dashboard (issue 10, "People").

- `roles`: the six roles and their labels;
- `models`: users, API tokens, dashboard sessions, enrolment-token bindings (revision 0004);
- `service`: passwords (argon2), users, tokens, sessions, free of HTTP;
- `policy`: the table route -> roles every route of the app must appear in;
- `scope`: a township staff member's queries see only their township;
- `guard`: the ASGI middleware that authenticates, authorises, checks CSRF and audits;
- `api`, `pages`, `cli`: /api/v1/security, the login/audit pages, `gasguard users`.
See docs/security.md."""
