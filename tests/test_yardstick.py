"""The bench's yardstick: what it times, and how a figure is normalised by the unit in its
name (no test looks at a wall-clock figure)."""

import pytest

from vadlock.analysis import yardstick


def test_the_yardstick_machine_is_a_stock_transitions_machine_that_runs_its_guards():
    model = yardstick._toggle_machine()
    model.toggle()
    assert model.state == "open"
    model.close_allowed = lambda event: False  # a guard that refuses: the trigger is refused
    assert model.toggle() is False and model.state == "open"


def test_durations_are_divided_and_rates_multiplied_by_the_yardstick():
    stick = {"trigger_us": 20.0, "numpy_workload_ms": 4.0}
    figures = {"review_s": 100.0, "explorer_states_per_s": 50_000.0, "simulator_rtf": 30.0,
               "explorer_peak_mib": 12.0, "sweep_speedup_2_workers": 1.9,
               "explorer_states": 34_000, "search_shrink_s": None, "quick": True}
    out = yardstick.normalise(figures, stick)
    assert set(out) == {"review_s", "explorer_states_per_s", "simulator_rtf"}
    assert out["review_s"]["per_trigger"] == pytest.approx(100 / 20e-6)
    assert out["review_s"]["per_numpy_workload"] == pytest.approx(100 / 4e-3)
    assert out["explorer_states_per_s"]["per_trigger"] == pytest.approx(50_000 * 20e-6)
    assert out["simulator_rtf"]["per_numpy_workload"] == pytest.approx(30 * 4e-3)


def test_a_slower_machine_gives_the_same_normalised_figure():
    fast = yardstick.normalise({"review_s": 100.0}, {"trigger_us": 10.0, "numpy_workload_ms": 2.0})
    slow = yardstick.normalise({"review_s": 200.0}, {"trigger_us": 20.0, "numpy_workload_ms": 4.0})
    assert slow["review_s"] == pytest.approx(fast["review_s"])


def test_combine_takes_the_median_of_both_passes_and_reports_the_drift():
    before = {"trigger_us": 10.0, "trigger_us_values": [9.0, 10.0, 11.0], "cpu_share": 1.0,
              "numpy_workload_ms": 2.0, "numpy_workload_ms_values": [2.0, 2.0, 2.0]}
    after = {"trigger_us": 20.0, "trigger_us_values": [19.0, 20.0, 21.0], "cpu_share": 0.5,
             "numpy_workload_ms": 2.0, "numpy_workload_ms_values": [2.0, 2.0, 2.0]}
    stick = yardstick.combine(before, after)
    assert stick["trigger_us"] == pytest.approx(15.0)
    assert stick["trigger_us_drift"] == pytest.approx(2.0)
    assert stick["numpy_workload_ms_drift"] == pytest.approx(1.0)
    assert (stick["cpu_share_before"], stick["cpu_share_after"]) == (1.0, 0.5)


def test_measure_reports_each_timing_and_the_share_of_a_core():
    measured = yardstick.measure(repeat=2)
    assert len(measured["trigger_us_values"]) == len(measured["numpy_workload_ms_values"]) == 2
    assert measured["trigger_us"] > 0 and measured["numpy_workload_ms"] > 0
    assert 0 < measured["cpu_share"] <= 1.05
