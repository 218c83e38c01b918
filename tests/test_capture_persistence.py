"""Capture faults that survive re-acquisition, and the attenuation as a scenario parameter."""

import json
from dataclasses import replace

import numpy as np

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.engine import Engine
from vadlock.simulator.presets import field_report
from vadlock.simulator.scenario import Scenario


def _run(kind: str, survives: bool, fast_forward: bool = True, attenuation_db: float = -54.0,
         design: str = "capture-health"):
    base = field_report(100_000)
    scenario = replace(base, attenuation_db=attenuation_db, capture_faults=(
        replace(base.capture_faults[0], kind=kind, survives_reacquire=survives),))
    return Engine(get_design(design), ServerVadHypotheses.parse("energy"), scenario,
                  0, fast_forward=fast_forward).run()


def test_a_fault_that_survives_reacquisition_comes_back_and_one_that_does_not_ends():
    once = _run("muted", survives=False)
    lasting = _run("muted", survives=True)
    reacquired = [t for t, text in once.notices if "re-acquiring" in text]
    assert len(reacquired) == 1  # the first re-acquisition brings the microphone back
    assert [a for _, a, _ in once.faults] == ["start"]
    again = [t for t, text in lasting.notices if "re-acquiring" in text]
    assert len(again) > 1  # the watchdog keeps trying: every re-acquisition is muted again
    assert len([a for _, a, _ in lasting.faults]) == 1 + len(again)
    # the user is heard after the re-acquisition only when the fault did not survive it
    def heard_after(trace, t0):
        return any(r.type == "input_audio_buffer.speech_started" and r.t_ms > t0
                   for r in trace.wire)
    assert heard_after(once, reacquired[0]) and not heard_after(lasting, again[0])


def test_reimposed_faults_are_the_same_with_and_without_fast_forward():
    fast, slow = _run("attenuated", True), _run("attenuated", True, fast_forward=False)
    assert fast.faults == slow.faults and fast.notices == slow.notices
    assert [r.event for r in fast.wire] == [r.event for r in slow.wire]


def test_the_attenuation_is_a_scenario_parameter():
    def loud_peak(db: float) -> int:
        trace = _run("attenuated", False, attenuation_db=db, design="production")
        fault = trace.faults[0][0]
        return max(p for t, p in zip(trace.chunks["t_ms"], trace.chunks["peak_int16"])
                   if t > fault)
    quiet, louder = loud_peak(-60.0), loud_peak(-48.0)
    assert np.isclose(louder / quiet, 10 ** (12 / 20), rtol=0.35)  # 12 dB is 4x


def test_new_fields_round_trip_through_json():
    base = field_report(60_000)
    scenario = replace(base, attenuation_db=-50.5, capture_faults=(
        replace(base.capture_faults[0], survives_reacquire=True),))
    assert Scenario.from_dict(json.loads(scenario.to_json())) == scenario
