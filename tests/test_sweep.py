"""The sweep: deterministic sessions, worker-independent results, exact Poisson intervals;
and the bench's JSON shape (no test looks at a wall-clock figure)."""

import json
from dataclasses import replace

import pytest

from vadlock.analysis import bench
from vadlock.analysis import sweep as sweep_module
from vadlock.analysis.sweep import poisson_interval, session_scenario, sweep
from vadlock.simulator.scenario import CaptureFault, Scenario


def test_results_do_not_depend_on_the_number_of_workers():
    one = sweep(["production"], "energy", sessions=3, minutes=2, workers=1, seed=7)
    two = sweep(["production"], "energy", sessions=3, minutes=2, workers=2, seed=7)
    assert one == two
    strip = lambda d: {k: v for k, v in d.items() if k not in ("workers", "seconds")}
    assert strip(one.to_dict()) == strip(two.to_dict())
    outcomes = one.rows[0].outcomes
    assert [o.session_index for o in outcomes] == [0, 1, 2]
    assert all(o.server_events > 0 for o in outcomes)  # the sessions' fingerprints agree too
    assert len({o.server_events for o in outcomes}) > 1


def test_sessions_are_deterministic_from_the_seed_and_differ_across_seeds():
    a = session_scenario(1, 0, 10)
    assert a == session_scenario(1, 0, 10)
    assert Scenario.from_dict(json.loads(a.to_json())) == a  # a valid, replayable scenario
    assert a != session_scenario(2, 0, 10)
    assert a != session_scenario(1, 1, 10)
    assert a.duration_ms == 600_000 and a.seed is not None


def test_the_distribution_has_its_documented_shape():
    many = [session_scenario(0, i, 30) for i in range(20)]
    hours = len(many) * 0.5
    for s in many:
        onsets = [u.start_ms for u in s.utterances]
        gaps = [b - a for a, b in zip(onsets, onsets[1:])]
        assert all(8_000 <= g <= 20_000 for g in gaps)
        assert all(1_000 <= u.duration_ms <= 4_000 and -30 <= u.level_dbfs <= -15
                   for u in s.utterances)
        assert all(2_000 <= r <= 8_000 for r in s.response_audio_ms)
        assert -60 <= s.room_noise_dbfs <= -45
        assert all(f.kind in ("muted", "attenuated", "suspended") for f in s.capture_faults)
        faults = s.capture_faults  # never overlapping; only the last may be permanent
        assert all(f.duration_ms is not None and f.start_ms + f.duration_ms <= g.start_ms
                   for f, g in zip(faults, faults[1:]))
    typing = sum(len(s.typing) for s in many)
    assert 0.25 * 30 * hours < typing < 2 * 30 * hours  # about 30 per hour


@pytest.mark.parametrize("events, exposure, lo, hi", [
    (0, 1.0, 0.0, 3.689), (10, 10.0, 0.4795, 1.8390), (1, 1.0, 0.0253, 5.5716),
    (100, 1.0, 81.364, 121.627)])
def test_poisson_interval_is_exact(events, exposure, lo, hi):
    low, high = poisson_interval(events, exposure)
    assert low == pytest.approx(lo, abs=1e-3)
    assert high == pytest.approx(hi, abs=1e-3)


def test_a_stolen_microphone_freezes_every_session(monkeypatch):
    def forced(seed, session_index, minutes):
        s = session_scenario(seed, session_index, minutes)
        return replace(s, capture_faults=(CaptureFault(20_000, "muted", None, "app_switch"),),
                       network=replace(s.network, spikes=()))

    monkeypatch.setattr(sweep_module, "session_scenario", forced)
    result = sweep(["production"], "energy", sessions=2, minutes=2, workers=1, seed=0)
    row = result.rows[0].to_dict()
    assert row["frozen_sessions"] == 2 and result.any_frozen
    assert 20_000 / 60_000 <= row["first_freeze_median_min"] <= 1.0
    assert row["first_freeze_mean_min"] is not None
    assert row["freezes_per_hour"] == pytest.approx(2 / (4 / 60))
    low, high = row["freezes_per_hour_ci95"]
    assert low < row["freezes_per_hour"] < high


def test_bad_input_is_one_line():
    for kwargs, word in (({"sessions": 0}, "--sessions"), ({"minutes": 0}, "--minutes"),
                         ({"workers": 0}, "--workers"), ({"seed": -1}, "--seed")):
        args = {"sessions": 1, "minutes": 1, "workers": 1, "seed": 0, **kwargs}
        with pytest.raises(ValueError, match=word):
            sweep(["production"], "energy", **args)
    with pytest.raises(ValueError, match="unknown design"):
        sweep(["nope"], "energy", 1, 1, 1)
    with pytest.raises(ValueError, match="unknown server hypothesis"):
        sweep(["production"], "nope", 1, 1, 1)


def _run(argv) -> int:
    """The real CLI, `vadlock.cli.main`: a command it lacks fails the test."""
    from vadlock import cli

    return cli.main(argv)


def test_sweep_command_prints_json(capsys):
    code = _run(["sweep", "--sessions", "1", "--minutes", "1", "--workers", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1) and out["designs"][0]["sessions"] == 1
    assert out["designs"][0]["design"] == "production" and out["server"] == "energy"


def test_bench_quick_json_has_the_required_keys(capsys):
    assert _run(["bench", "--quick", "--json", "--skip-review"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("simulator_rtf", "search_first_counterexample_s", "search_shrink_s",
                "explorer_states_per_s", "explorer_peak_mib", "review_s",
                "sweep_speedup_2_workers", "runs"):
        assert key in out
    assert out["review_s"] is None and out["notes"]
    for key in bench.KEYS:
        assert {"median", "min", "max", "values"} <= set(out["runs"][key])
    assert out["explorer_states"] > 0
    # the yardstick of the same run, and every duration and rate normalised by it
    stick = out["yardstick"]
    assert stick["trigger_us"] > 0 and stick["numpy_workload_ms"] > 0
    assert set(out["normalised"]) >= {"simulator_rtf", "explorer_states_per_s",
                                      "search_first_counterexample_s", "sweep_1_worker_s"}
    assert "explorer_peak_mib" not in out["normalised"]  # memory is not normalised
    size = out["runs"]["sweep_size"]  # the sweep is sized by wall time
    assert size["sessions"] >= 4 and size["one_session_s"] > 0
