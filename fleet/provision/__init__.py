"""Provisioning: an installer turns a flashed board into a fleet device on site.

Two halves: the fleet's side of enrolment (`models`, `service`, `api`: enrolment tokens, the
device's own OSCORE key created and kept by the fleet, acceptance results), and the installer's
command `gasguard provision` (`cli`, `steps`, `board`), which drives the board with mpremote.
docs/provisioning.md is the guide."""
