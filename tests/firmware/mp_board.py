# A board for integration tests: the real app on MicroPython with the simulated machine in
# process, real time, real UDP. Usage (MICROPYPATH must hold the repo):
#   micropython mp_board.py ROOT SCENARIO_JSON
# SCENARIO_JSON: [[seconds_after_start, op, {args}], ...] with the sim World's operations
# (set_gas, net_cut, ...). The app's prints go to stdout; "@@ready" once the app runs.
import sys

from boards.sim.device import install

machine = install.install()

import asyncio  # noqa: E402
import json  # noqa: E402

from firmware import app as app_mod  # noqa: E402


async def scenario(steps):
    t = 0.0
    for at, op, args in steps:
        if at > t:
            await asyncio.sleep_ms(int((at - t) * 1000))
            t = at
        machine.sim.apply(op, args) if op != "power" else None
        print("@@op", op, json.dumps(args))


async def poller():
    # the launched board polls the world every ~20 ms; do the same here
    while True:
        machine.sim.poll()
        await asyncio.sleep_ms(20)


async def main(root, steps):
    app = app_mod.App(root, machine=machine, maint=False)
    asyncio.create_task(poller())
    asyncio.create_task(scenario(steps))
    print("@@ready", app.dev)
    await app.main()


root = sys.argv[1]
steps = json.loads(sys.argv[2]) if len(sys.argv) > 2 else []
asyncio.run(main(root, steps))
