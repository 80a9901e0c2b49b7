"""Fuzzing the parsers that take bytes from the network (issue 10; docs/fuzzing.md).

targets.py names each parser with its seed corpus and documented errors; engine.py runs inputs
into them (atheris, coverage-guided, or a deterministic mutator); mp_loop.py runs the firmware's
parsers on the MicroPython interpreter; board.py streams malformed datagrams into a running
virtual board. `python -m bench.fuzz` is the command line.
"""
