"""The fleet's background loops: poll silent devices, escalate alarms, deliver webhooks,
expire commands, write error counters. Each is a plain `async def run_*(fleet)` that the
runtime starts and cancels; each also has a `*_once` step that tests call directly."""
