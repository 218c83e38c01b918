"""Server faults in the simulator (the `server` fault class): what the client receives.

A stall after the first turn leaves the socket open and silent (production never hears the
user again); the liveness ladder's reconnect starts a connection the stall has not reached
yet. A failed response is the API's `response.done` with status `failed`, valid against the
SDK; an expired session sends `session_expired` and nothing more.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.engine import simulate
from vadlock.simulator.logreplay import validate_event
from vadlock.simulator.presets import preset
from vadlock.simulator.scenario import Scenario, ScenarioError, ServerFault

ENERGY = ServerVadHypotheses.parse("energy")


def _run(design: str, *faults: ServerFault, duration_ms: int = 60_000):
    scenario = replace(preset("conversation", duration_ms), server_faults=faults)
    return simulate(get_design(design), ENERGY, scenario)


def _started(trace) -> list[int]:
    return [r.t_ms for r in trace.events("server_to_client", "input_audio_buffer.speech_started")]


def test_a_stall_silences_the_connection_and_a_reconnect_escapes_it():
    healthy = _started(_run("production"))
    stalled = _run("production", ServerFault("stall", 1))
    first_done = next(stalled.events("server_to_client", "response.done")).t_ms
    assert len(healthy) == 6
    assert _started(stalled) == healthy[:1]
    assert all(r.t_ms <= first_done for r in stalled.events("server_to_client"))
    recovered = _run("recommended", ServerFault("stall", 1))
    assert recovered.reconnects == 1  # and the new connection is healthy
    assert any(t > first_done for t in _started(recovered))


def test_a_failed_response_is_the_apis_and_the_session_goes_on():
    trace = _run("production", ServerFault("fail-response", 1))
    done = [r.event for r in trace.events("server_to_client", "response.done")]
    assert [d["response"]["status"] for d in done].count("failed") == 1
    assert done[1]["response"]["status"] == "failed"
    for event in done:
        assert validate_event(event, "server_to_client") is None
    assert len(_started(trace)) == 6  # the session goes on


def test_an_expired_session_says_so_then_nothing():
    trace = _run("production", ServerFault("expire", 1))
    errors = list(trace.events("server_to_client", "error"))
    assert [e.event["error"]["code"] for e in errors] == ["session_expired"]
    assert validate_event(errors[0].event, "server_to_client") is None
    assert trace.server_events()[-1].type == "error"


def test_a_server_fault_in_a_scenario_file_is_checked():
    data = json.loads(replace(preset("conversation", 20_000),
                              server_faults=(ServerFault("stall", 2),)).to_json())
    assert Scenario.from_dict(data).server_faults == (ServerFault("stall", 2),)
    data["server_faults"] = [{"kind": "hang", "after_turns": 1}]
    with pytest.raises(ScenarioError, match="server_faults\\[0\\].kind"):
        Scenario.from_dict(data)
