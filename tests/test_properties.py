"""Properties over traces: they hold on healthy sessions and fail on broken ones."""

import pytest

from vadlock.model.client import session as client_session
from vadlock.model.client.watchdog import StuckVadWatchdog
from vadlock.model.designs import DEVELOPMENT, PRODUCTION
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties.checks import Bounds, check, no_silent_freeze, recovery
from vadlock.simulator.engine import simulate
from vadlock.simulator.presets import preset
from vadlock.simulator.scenario import Scenario, Utterance

ENERGY = ServerVadHypotheses.parse("energy")


@pytest.mark.parametrize("design", [PRODUCTION, DEVELOPMENT], ids=lambda d: d.name)
def test_a_normal_conversation_violates_nothing(design):
    trace = simulate(design, ENERGY, preset("conversation", 60_000), seed=0)
    assert check(trace) == []


def test_the_field_report_story_freezes_production():
    trace = simulate(PRODUCTION, ENERGY, preset("field-report", 120_000), seed=0)
    names = {v.property for v in check(trace)}
    assert {"recovery", "no-silent-freeze"} <= names
    summary = trace.summary()
    assert summary["heard"] == 5 and summary["responses"] == 5  # five good turns first
    # then not one server event, while the client keeps appending audio
    last = summary["last_server_event_ms"]
    appends_after = [r for r in trace.events("client_to_server", "input_audio_buffer.append")
                     if r.t_ms > last]
    assert len(appends_after) > 600
    violation = recovery(trace)[0]
    assert violation.start_ms > last and "frozen" in violation.explanation


def test_bounds_are_parameters():
    trace = simulate(PRODUCTION, ENERGY, preset("field-report", 120_000), seed=0)
    assert no_silent_freeze(trace)
    assert not no_silent_freeze(trace, Bounds(silent_window_ms=200_000))


class NeverDisarmingWatchdog(StuckVadWatchdog):
    """A deliberately broken machine: speech_stopped does not disarm it."""

    TRANSITIONS = tuple(
        {**t, "dest": None} if t["trigger"] == "speech_stopped" else t
        for t in StuckVadWatchdog.TRANSITIONS)


def test_a_watchdog_that_never_disarms_is_caught(monkeypatch):
    # the broken watchdog, armed at the first speech_started (1.2 s), fires 30 s later —
    # just as the user starts the second turn — and clears its onset away
    scenario = Scenario(name="long-pause", duration_ms=45_000,
                        utterances=(Utterance(1_000, 1_800), Utterance(31_150, 3_000)))
    healthy = simulate(PRODUCTION, ENERGY, scenario, seed=0)
    assert check(healthy) == []
    monkeypatch.setattr(client_session, "StuckVadWatchdog", NeverDisarmingWatchdog)
    broken = simulate(PRODUCTION, ENERGY, scenario, seed=0)
    violations = check(broken)
    assert any(v.property == "no-lost-audio" and "cleared away" in v.explanation
               for v in violations)


def test_a_gate_stuck_closed_is_caught(monkeypatch):
    from vadlock.model.client.gate import VadGate
    monkeypatch.setattr(VadGate, "chunk", lambda self, level: "zeros")
    trace = simulate(PRODUCTION, ENERGY, preset("conversation", 60_000), seed=0)
    names = {v.property for v in check(trace)}
    assert {"heard", "recovery", "no-lost-audio"} <= names


def test_protocol_property_catches_client_caused_errors(monkeypatch):
    from vadlock.model import protocol
    from vadlock.model.client.session import ClientSession
    original = ClientSession.receive

    def receive_and_cancel(self, event):
        out = original(self, event)
        if event["type"] == "response.done":
            out.append(protocol.response_cancel())  # a cancel with nothing to cancel
        return out

    monkeypatch.setattr(ClientSession, "receive", receive_and_cancel)
    trace = simulate(PRODUCTION, ENERGY, preset("conversation", 30_000), seed=0)
    assert any(v.property == "protocol" and "response_cancel_not_active" in v.explanation
               for v in check(trace))


def test_a_vad_that_never_ends_speech_loses_the_turn(monkeypatch):
    """Heard but never committed: the utterance's audio is lost to the conversation."""
    from vadlock.model.server.vad import ServerVad
    assert check(simulate(DEVELOPMENT, ENERGY, preset("conversation", 30_000), seed=0),
                 ("no-lost-audio",)) == []
    monkeypatch.setattr(ServerVad, "_silence_long_enough", lambda self, event: False)
    trace = simulate(DEVELOPMENT, ENERGY, preset("conversation", 30_000), seed=0)
    lost = check(trace, ("no-lost-audio",))
    assert lost and all("not committed" in v.explanation for v in lost)


def test_a_response_that_never_completes_is_not_answered(monkeypatch):
    from vadlock.model.server.response import ResponseLifecycle
    one_turn = Scenario(name="one-turn", duration_ms=30_000, utterances=(Utterance(1_000, 1_800),))
    assert check(simulate(PRODUCTION, ENERGY, one_turn, seed=0), ("answered",)) == []
    # a broken generator: its delivery step sends nothing and never completes
    monkeypatch.setattr(ResponseLifecycle, "_deliver", lambda self, event: None)
    trace = simulate(PRODUCTION, ENERGY, one_turn, seed=0)
    assert [v.property for v in check(trace, ("answered",))] == ["answered"]


def test_beliefs_that_miss_response_done_disagree_with_the_server(monkeypatch):
    from vadlock.model.client.beliefs import ServerBeliefs
    broken = tuple(t for t in ServerBeliefs.TRANSITIONS if t["trigger"] != "response_done")
    monkeypatch.setattr(ServerBeliefs, "TRANSITIONS", broken + (
        {"trigger": "response_done", "source": "*", "dest": None},))
    trace = simulate(PRODUCTION, ENERGY, preset("conversation", 30_000), seed=0)
    violations = check(trace, ("beliefs-agree",))
    assert violations and "'responding'" in violations[0].explanation
