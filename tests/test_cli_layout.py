"""The command line's layout: every command and flag the README documents parses into the
value it documents, each command is one module of `vadlock.commands` (or of the package it
belongs to) with `add_parser` and `run`, and no package imports the composition root back."""

import ast
from pathlib import Path

import pytest

from vadlock.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent

# (argv as the README writes it, {dest: the value it documents}); file arguments are names,
# never read while parsing.
DOCUMENTED = [
    ("simulate --design production --server energy --preset field-report",
     {"design": "production", "server": "energy", "preset": "field-report"}),
    ("simulate --design development --preset conversation --out t.jsonl --plot t.png",
     {"design": "development", "preset": "conversation", "out": "t.jsonl", "plot": "t.png"}),
    ("simulate --out trace.jsonl --plot timeline.png --audio rec.wav --json",
     {"out": "trace.jsonl", "plot": "timeline.png", "audio": "rec.wav", "json": True}),
    ("simulate --audio rec.wav --audio-start-ms 2000 --audio-tail-ms 0",
     {"audio_start_ms": 2000, "audio_tail_ms": 0}),
    ("simulate --server silero --threshold 0.7", {"server": "silero", "threshold": 0.7}),
    ("simulate --design production --chunk-ms 20 --silence-duration-ms 200 "
     "--gate-lag-chunks 1", {"chunk_ms": 20, "silence_duration_ms": 200, "gate_lag_chunks": 1}),
    ("simulate --design-file mine.toml", {"design_file": ["mine.toml"], "design": None}),
    ("search --design production --server floor-adapt --faults acoustic",
     {"server": "floor-adapt", "faults": "acoustic", "out": "counterexamples"}),
    ("search --design-file mine.toml --json", {"design_file": ["mine.toml"], "json": True}),
    ("explore --design production --server zero-skip,clear-keeps-vad --json",
     {"server": "zero-skip,clear-keeps-vad", "json": True, "faults": "acoustic,capture"}),
    ("explore --design recommended --server floor-adapt --chunk-ms 20",
     {"design": "recommended", "chunk_ms": 20}),
    ("explore --design-file mine.toml", {"design_file": ["mine.toml"]}),
    ("diagnose", {"o6_peak_range": "41,96", "workers": None, "no_sensitivity": False}),
    ("diagnose --o6-peak-range 30,120 --design-file mine.toml --json",
     {"o6_peak_range": "30,120", "design_file": ["mine.toml"], "json": True}),
    ("review", {"out": "figures", "designs": None, "workers": None, "scheduler": None}),
    ("review --scheduler tcp://10.0.0.1:8786", {"scheduler": "tcp://10.0.0.1:8786"}),
    ("review --designs production --servers energy --no-sensitivity --workers 2 "
     "--design-file mine.toml",
     {"designs": "production", "servers": "energy", "no_sensitivity": True, "workers": 2,
      "design_file": ["mine.toml"]}),
    ("diagrams --check", {"check": True, "out": "figures"}),
    ("plot TRACE.jsonl --design-file mine.toml",
     {"trace": "TRACE.jsonl", "design_file": ["mine.toml"]}),
    ("design show production", {"design_command": "show", "name": "production"}),
    ("design check mine.toml", {"design_command": "check", "file": "mine.toml"}),
    ("replay realtime.jsonl --json", {"log": "realtime.jsonl", "json": True}),
    ("replay LOG.jsonl --design-file mine.toml", {"design_file": ["mine.toml"]}),
    ("recording FILE.wav --design-file mine.toml", {"wav": "FILE.wav"}),
    ("conform JOURNAL.jsonl --design production", {"journal": "JOURNAL.jsonl"}),
    ("measure --engine webrtc-vad --check", {"engine": "webrtc-vad", "check": True}),
    ("calibrate --audio rec.wav --json", {"audio": "rec.wav", "json": True}),
    ("hypotheses --json", {"json": True}),
    ("sweep --design production,recommended --sessions 20 --minutes 10",
     {"design": "production,recommended", "sessions": 20, "minutes": 10.0}),
    ("sweep --design production --server energy --sessions 2000 --minutes 10 --workers 2",
     {"sessions": 2000, "workers": 2}),
    ("sweep --design-file mine.toml --scheduler tcp://10.0.0.1:8786",
     {"design_file": ["mine.toml"], "scheduler": "tcp://10.0.0.1:8786"}),
    ("bench --json", {"json": True}),
    ("serve --load 50 --load-audio-s 30", {"load": 50, "load_audio_s": 30.0}),
    ("serve --page --port 8765 --fault stall:after=2",
     {"page": "", "port": 8765, "fault": ["stall:after=2"]}),
    ("serve --port 0 --log realtime.jsonl --stop-after-s 600",
     {"port": 0, "log": "realtime.jsonl", "stop_after_s": 600.0}),
    ("serve --server zero-skip --fault stall:after=3 --fault latency:ms=150",
     {"server": "zero-skip", "fault": ["stall:after=3", "latency:ms=150"]}),
    ("serve --host 127.0.0.1 --voice espeak --clock audio",
     {"host": "127.0.0.1", "voice": "espeak", "clock": "audio"}),
]

# The commands of the README's table, each a module with `add_parser` (and the run it sets).
COMMAND_MODULES = {
    "simulate": "vadlock.commands.simulate", "search": "vadlock.commands.search",
    "explore": "vadlock.commands.explore", "diagnose": "vadlock.commands.diagnose",
    "review": "vadlock.commands.review", "diagrams": "vadlock.commands.diagrams",
    "plot": "vadlock.commands.plot", "design": "vadlock.commands.design",
    "hypotheses": "vadlock.commands.hypotheses", "replay": "vadlock.simulator.logreplay",
    "conform": "vadlock.simulator.conformance", "recording": "vadlock.simulator.recording",
    "measure": "vadlock.analysis.measure", "calibrate": "vadlock.analysis.calibrate", "sweep": "vadlock.analysis.sweep",
    "bench": "vadlock.analysis.bench", "serve": "vadlock.simulator.serve.command",
}


@pytest.mark.parametrize("argv, expected", DOCUMENTED, ids=[a for a, _ in DOCUMENTED])
def test_documented_flags_parse_to_their_values(argv, expected):
    args = build_parser().parse_args(argv.split())
    assert callable(args.run)
    assert {dest: getattr(args, dest) for dest in expected} == expected


def test_an_undocumented_flag_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["simulate", "--plots", "t.png"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_every_command_of_the_readme_table_is_a_module_with_add_parser_and_run():
    import importlib

    table = (ROOT / "README.md").read_text().split("## What is in the box", 1)[1]
    table = table.split("\n\n", 2)[1]
    named = {row.split("`vadlock ", 1)[1].split()[0].rstrip("`") for row in table.splitlines()
             if row.startswith("| `vadlock ")}
    assert named == set(COMMAND_MODULES)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == list(COMMAND_MODULES)  # the order of `vadlock --help`
    for command, module_name in COMMAND_MODULES.items():
        module = importlib.import_module(module_name)
        defaults = sub.choices[command]._defaults
        assert defaults["run"].__module__ == module.__name__, command
        assert callable(module.add_parser), command


def imported_modules(source: str, package: str) -> set[str]:
    """Every absolute module name `source` imports, relative imports resolved in `package`."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    return names


def _reaches(names: set[str], target: str) -> bool:
    return any(n == target or n.startswith(target + ".") for n in names)


def test_the_import_scan_finds_a_planted_import_of_the_cli():
    for source in ("from vadlock.cli import main", "import vadlock.cli as cli",
                   "from vadlock import cli", "def f():\n    from vadlock.commands import x",
                   "from .. import cli"):
        names = imported_modules(source, "vadlock.simulator")
        assert _reaches(names, "vadlock.cli") or _reaches(names, "vadlock.commands"), source
    assert not _reaches(imported_modules("from vadlock.client import x", "vadlock"),
                        "vadlock.cli")


PACKAGE_DIRS = {"model": "vadlock.model", "simulator": "vadlock.simulator",
                "properties": "vadlock.properties", "analysis": "vadlock.analysis",
                "vadlock/commands": "vadlock.commands"}


@pytest.mark.parametrize("folder", sorted(PACKAGE_DIRS))
def test_no_package_imports_the_composition_root(folder):
    offenders = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        package = ".".join([PACKAGE_DIRS[folder],
                            *path.relative_to(ROOT / folder).parent.parts])
        names = imported_modules(path.read_text(), package)
        if _reaches(names, "vadlock.cli") or (folder != "vadlock/commands"
                                              and _reaches(names, "vadlock.commands")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
