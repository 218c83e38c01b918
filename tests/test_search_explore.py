"""Search and exploration find the freeze, agree with each other, and their
counterexamples replay."""

import json

import pytest

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties.checks import FREEZE_PROPERTY, check
from vadlock.properties.explore import explore
from vadlock.properties.search import search
from vadlock.cli import main
from vadlock.simulator.engine import simulate
from vadlock.simulator.scenario import Scenario

# (design, hypotheses, fault classes, expected verdict): search and explore must agree.
AGREEMENT = [
    ("production", "energy", ("capture",), "freeze"),
    ("development", "energy", ("capture",), "freeze"),
    ("production", "energy", ("acoustic",), "no-freeze"),
    ("development", "energy", ("acoustic",), "no-freeze"),
    # no freeze since floor-adapt's artefact (a floor at the top band deaf to any speech)
    # was fixed: the freeze was the artefact
    ("production", "floor-adapt", ("acoustic",), "no-freeze"),
    ("development", "floor-adapt", ("acoustic",), "no-freeze"),
    ("production", "zero-skip", ("acoustic",), "no-freeze"),
    ("production", "zero-skip,clear-keeps-vad", ("acoustic",), "freeze"),
    ("development", "zero-skip,clear-keeps-vad", ("acoustic",), "no-freeze"),
    ("production", "clear-keeps-vad", ("acoustic",), "no-freeze"),
]


@pytest.mark.parametrize("design, server, faults, expected", AGREEMENT,
                         ids=[f"{d}-{s}-{'+'.join(f)}" for d, s, f, _ in AGREEMENT])
def test_search_and_explore_reach_the_same_verdict(design, server, faults, expected):
    d, h = get_design(design), ServerVadHypotheses.parse(server)
    explored = explore(d, h, faults)
    searched = search(d, h, max_examples=20, seed=0, fault_classes=faults, shrink=False)
    assert explored.verdict == searched.verdict == expected
    if expected == "no-freeze":
        assert explored.freeze_states == 0


def test_search_finds_the_production_freeze_and_its_file_replays(tmp_path):
    d, h = get_design("production"), ServerVadHypotheses.parse("energy")
    result = search(d, h, max_examples=20, seed=1, fault_classes=("capture",),
                    out_dir=tmp_path)
    assert result.verdict == "freeze" and result.saved.exists()
    scenario = Scenario.load(result.saved)
    assert len([u for u in scenario.utterances if u.start_ms < scenario.capture_faults[0].start_ms]) >= 2
    replayed = simulate(d, h, scenario, seed=scenario.seed)
    assert [v.explanation for v in check(replayed, (FREEZE_PROPERTY,))] == \
        [v.explanation for v in result.violations]


def test_explore_confirms_the_production_freeze_with_good_turns_first(tmp_path):
    d, h = get_design("production"), ServerVadHypotheses.parse("energy")
    result = explore(d, h, ("capture",), out_dir=tmp_path)
    assert result.freeze_states > 0 and result.confirmed
    assert result.states > 1 and result.edges > result.states
    trace = simulate(d, h, Scenario.load(result.saved), seed=0)
    summary = trace.summary()
    assert summary["responses"] >= 2  # good turns before the freeze
    assert check(trace, (FREEZE_PROPERTY,))


def test_a_fix_removes_the_counterexample_not_the_search(tmp_path):
    """The same scenario that freezes production does not freeze development when the
    cause is production-only (zero-skip and clear-keeps-vad behind the zeroing gate)."""
    h = ServerVadHypotheses.parse("zero-skip,clear-keeps-vad")
    prod = explore(get_design("production"), h, ("acoustic",), out_dir=tmp_path)
    assert prod.confirmed
    scenario = Scenario.load(prod.saved)
    assert check(simulate(get_design("production"), h, scenario), (FREEZE_PROPERTY,))
    assert not check(simulate(get_design("development"), h, scenario), (FREEZE_PROPERTY,))


def test_cli_search_and_explore_json(tmp_path, capsys):
    code = main(["search", "--design", "production", "--server", "energy", "--faults",
                 "capture", "--max-examples", "10", "--out", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["verdict"] == "freeze" and out["property"] == "recovery"
    assert out["counterexample"].endswith(".json")
    code = main(["explore", "--design", "development", "--faults", "acoustic", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["verdict"] == "no-freeze" and out["freeze_states"] == 0
    assert {"design", "server", "verdict", "property", "counterexample", "states", "edges",
            "freeze_states", "confirmed"} <= set(out)


@pytest.mark.parametrize("design, server, faults", [
    ("production", "floor-adapt", ("acoustic", "capture")),
    ("recommended", "zero-skip,clear-keeps-vad", ("capture",)),
    ("webrtc", "deadband", ("acoustic", "capture")),
    ("liveness-watchdog", "clear-keeps-vad", ("acoustic", "capture"))])
def test_a_snapshot_alone_decides_the_next_state(design, server, faults):
    """The explorer remembers each component transition and reuses one live session for
    all of them; building fresh sessions for every transition gives the very same graph,
    so no attribute outside the snapshots leaks from one transition into another."""
    d, h = get_design(design), ServerVadHypotheses.parse(server)
    reused = explore(d, h, faults, confirm=False, keep_graph=True)
    fresh = explore(d, h, faults, confirm=False, keep_graph=True, fresh_sessions=True)
    assert (reused.states, reused.edges, reused.freeze_states, reused.path) == \
        (fresh.states, fresh.edges, fresh.freeze_states, fresh.path)
    assert sorted(reused.graph.edges(data="fair")) == sorted(fresh.graph.edges(data="fair"))


@pytest.mark.parametrize("design", ["production", "recommended", "webrtc", "idle-timeout",
                                    "liveness-watchdog"])
def test_fast_forward_is_exact_on_searched_scenarios(design):
    """The engine's fast-forward against running every tick, on scenarios the search
    strategy draws (faults of every class): the same bytes and transitions."""
    from hypothesis import given, settings

    from vadlock.properties.strategies import scenarios
    from vadlock.simulator.engine import Engine

    @settings(max_examples=3, deadline=None, database=None)
    @given(scenarios())
    def same(scenario):
        fast, slow = (Engine(get_design(design), ServerVadHypotheses.parse("floor-adapt"),
                             scenario, seed=2, fast_forward=flag).run() for flag in (True, False))
        assert fast.jsonl_bytes() == slow.jsonl_bytes()
        assert fast.transitions == slow.transitions and fast.chunks == slow.chunks

    same()
