"""Finish by a deadline at the lowest cost: spot first, on-demand when spot capacity or time runs out.

  parse.py       --deadline text -> unix time          checks.py     the bad-input checks
  state.py       what a policy sees and answers        policies/     the registry: make(name)
  ../spot_traces.py  spot availability from the traces (shared)  simulate.py   trace replay and comparison
  prices.py      prices as a function (PriceFn)        report.py     the simulation table
  progress.py    the run's progress from its events    actuator.py   group sizes: interface and fake
  controller.py  one decision per tick, acted on only when it changes

Pure Python, no torch; nothing here imports the CLI, the emulator or the status view, so each
can import it. docs/deadline.md has the design.
"""
