"""The hardware-in-loop bench: a pytest-embedded suite run against a rig (docs/bench.md)."""
