"""vadlock: a formal, executable model of a browser voice client and the OpenAI Realtime API.

The one import name of the distribution. Its subpackages live in the repository's
top-level folders (setuptools `package-dir`):

- `vadlock.model` (`model/`): the client and server state machines, declared once;
  sans-IO, no audio, no clocks.
- `vadlock.simulator` (`simulator/`): synthetic audio, scenarios, transport, the
  discrete-time engine, traces, plots, recordings and log replay.
- `vadlock.properties` (`properties/`): the properties over traces, Hypothesis search and
  the exhaustive explorer.
- `vadlock.analysis` (`analysis/`): what is built from them — the design review and its
  report, the field-report diagnosis, calibration, sweeps and benchmarks.
- `vadlock.cli` (`vadlock/cli.py`): the command line, the composition root; no package
  imports it. `vadlock.commands` (`vadlock/commands/`): one module a command, each with
  `add_parser` and `run`; the commands that belong to one package keep theirs there
  (`simulator/logreplay.py`, `analysis/sweep.py`, ...).
"""
