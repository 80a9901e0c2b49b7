"""Lifecycle of installed items: calibration due dates, end of life, work orders.

`rules` is pure (dates in, dates out) and carries the numbers from STANDARDS.md; `models` holds
the work-order and calibration tables; `service` wires the rules to the store; `cli` is
`gasguard workorders`."""
