"""Timers are declarations: the explorer's expiry steps, the engine's fast-forward and the
replay's waits come from each machine's `TIMERS`, so a timer added to a machine is explored
and replayed without any change to the explorer or the replay."""

from dataclasses import replace

from vadlock.model import protocol
from vadlock.model.client import session as client_session
from vadlock.model.client.beliefs import BeliefState, ServerBeliefs
from vadlock.model.client.session import ClientSession
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.machine import Timer, WaitInput
from vadlock.model.server.session import ServerSession
from vadlock.properties.explore import ProductModel, Step, explore
from vadlock.properties.replay import GOOD_TURNS, path_to_scenario, timer_waits
from vadlock.simulator.scenario import Segment

PATIENCE_MS = 7_000


class ImpatientBeliefs(ServerBeliefs):
    """Beliefs with one more timer: while listening, after PATIENCE_MS of wall time the
    client clears the input buffer. Nothing in the explorer names it."""

    TRANSITIONS = ServerBeliefs.TRANSITIONS + (
        {"trigger": "lose_patience", "source": BeliefState.LISTENING, "dest": None,
         "after": "_clear_buffer"},
    )
    DATA = ("waited_ms",)
    TIMERS = (Timer("patience", "waited_ms", "patience_ms", (BeliefState.LISTENING,),
                    "lose_patience"),)

    def __init__(self) -> None:
        self.patience_ms = PATIENCE_MS
        self.waited_ms = 0
        super().__init__()

    def _clear_buffer(self, event) -> None:
        self.waited_ms = 0
        self.emit(protocol.clear())


def test_a_timer_added_to_a_machine_is_explored_without_changing_the_explorer(monkeypatch):
    design, energy = get_design("production"), ServerVadHypotheses.parse("energy")
    before = explore(design, energy, ("acoustic",), confirm=False)
    monkeypatch.setattr(client_session, "ServerBeliefs", ImpatientBeliefs)

    model = ProductModel(design, energy, ("acoustic",))
    start = model.initial()
    steps = {step: move for step, _, move in model.moves(start)}
    expiry = Step("expire", timer="patience")
    assert expiry in steps  # the explorer offers the new timer's expiry ...
    _, sent, _ = model.client_expire(start[0], "patience")
    assert [model.events.values[i] for i in sent] == [("input_audio_buffer.clear",)]
    after, _ = model.apply(start, steps[expiry])
    assert after != start  # ... and follows it through the server

    with_timer = explore(design, energy, ("acoustic",), confirm=False)
    assert with_timer.edges > before.edges


def test_the_replay_waits_for_a_new_timer_as_its_declaration_says(monkeypatch):
    monkeypatch.setattr(client_session, "ServerBeliefs", ImpatientBeliefs)
    design, expiry, start_ms = get_design("production"), Step("expire", timer="patience"), \
        10_000 * GOOD_TURNS
    # by default a timer waits its limit, in a quiet room (the replay's -50 dBFS noise)
    assert timer_waits(design)["patience"] == ("noise", -50.0, PATIENCE_MS)
    segments = path_to_scenario(design, [expiry], 100).segments
    # (the same noise goes on for the second before the replay's tail)
    assert segments[0] == Segment(0, start_ms + PATIENCE_MS + 1_000, "noise", -50.0)

    class SpeechPatience(ImpatientBeliefs):  # the same timer, waiting for 3 s of speech
        TIMERS = (replace(ImpatientBeliefs.TIMERS[0], wait_ms=3_000,
                          wait_input=WaitInput.SPEECH),)

    monkeypatch.setattr(client_session, "ServerBeliefs", SpeechPatience)
    segments = path_to_scenario(design, [expiry], 100).segments
    assert segments[:2] == (Segment(0, start_ms, "noise", -50.0),
                            Segment(start_ms, 3_000, "speech", -22.0))


def test_the_engine_fast_forwards_only_up_to_a_declared_deadline(monkeypatch):
    monkeypatch.setattr(client_session, "ServerBeliefs", ImpatientBeliefs)
    client = ClientSession(get_design("production"))
    assert client.ms_until_next_deadline() == PATIENCE_MS
    assert client.advance(PATIENCE_MS - 1) == []
    assert client.ms_until_next_deadline() == 1
    assert client.advance(1) == [protocol.clear()]


def test_server_timers_come_from_its_machines():
    server = ServerSession(ServerVadHypotheses.parse("energy"),
                           get_design("production").level_scale,
                           protocol.turn_detection_config(idle_timeout_ms=5_000))
    # only the 60-minute session limit runs from the start
    assert server.running_timers() == ("session_limit",)
    assert server.ms_until_next_deadline() == 3_600_000
    server.receive({"type": "response.create"})
    assert server.running_timers() == ("response", "session_limit")
    first_delta_ms = server.ms_until_next_deadline()
    assert server.advance(first_delta_ms - 1) == []
    assert [e["type"] for e in server.advance(1)] == ["response.output_audio.delta"]


def test_a_trigger_takes_what_its_machine_declares():
    from vadlock.model.server.audio_buffer import InputAudioBuffer

    buffer = InputAudioBuffer()
    buffer.append(duration_ms=40)
    buffer.append(60)  # positional, in the declared order
    assert buffer.buffered_ms == 100
    for wrong in ({"ms": 40}, {}):
        try:
            buffer.append(**wrong)
        except TypeError as error:
            assert "append takes duration_ms" in str(error)
        else:
            raise AssertionError(f"append accepted {wrong}")


def test_a_misspelt_hypothesis_is_an_error_not_false():
    from vadlock.model.hypotheses import HypothesisFlag

    zero_skip = ServerVadHypotheses.parse("zero-skip")
    assert zero_skip.has(HypothesisFlag.ZERO_SKIP) and not zero_skip.has("deadband")
    try:
        zero_skip.has("zero_skip")
    except ValueError:
        pass
    else:
        raise AssertionError("a misspelt hypothesis name was taken for False")
