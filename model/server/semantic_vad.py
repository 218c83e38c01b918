"""semantic_vad turn detection: speech starts as server_vad's does; the turn ends when a
model thinks the user is done, at the latest after the eagerness' maximum wait.

Documented (SDK `realtime_audio_input_turn_detection.py`, the realtime-vad guide):
`eagerness` low | medium | high | auto (= medium), with maximum timeouts of 8 s, 4 s and
2 s; no `idle_timeout_ms` ("only supported for server_vad"); `create_response` and
`interrupt_response` as for server_vad. The semantic classifier itself is unknown. What
this machine assumes (graded `analogy` in `model/evidence.py`):
- speech starts on the same per-frame decision as server_vad's (`ServerVad.classify`),
  with the documented default prefix padding of 300 ms;
- while the user is silent after speech, the `end_of_turn` timer counts the silent audio
  appended (`silence_run_ms`, as server_vad's silence run; speech resets it); it fires
  `speech_stopped` at the latest at `max_wait_ms`. The explorer lets a running timer fire
  at any point, which covers every wait the classifier may choose up to the maximum; the
  simulator, with no classifier, waits the documented maximum (the worst case).
"""

from vadlock.model.hypotheses import INITIAL_FLOOR_BAND, FrameClass
from vadlock.model.machine import Timer
from vadlock.model.server.vad import ServerVad, SpeechStopped, VadState
from vadlock.model.symbols import FrameSymbol


def turn_detection(eagerness: str = "auto", create_response: bool = True,
                   interrupt_response: bool = True) -> dict:
    """The `turn_detection` object of a semantic_vad session (no idle_timeout_ms)."""
    return {"type": "semantic_vad", "eagerness": eagerness,
            "create_response": create_response, "interrupt_response": interrupt_response}

MAX_WAIT_MS = {"low": 8_000, "medium": 4_000, "high": 2_000, "auto": 4_000}
EAGERNESS = tuple(MAX_WAIT_MS)


class SemanticVad(ServerVad):
    NAME = "semantic_vad"
    TRANSITIONS = ServerVad.TRANSITIONS + (
        {"trigger": "end_of_turn", "source": VadState.SPEECH, "dest": VadState.SILENCE,
         "after": "_turn_ended"},
        {"trigger": "end_of_turn", "source": VadState.SILENCE, "dest": None},
    )
    # counts appended silent audio (not wall time): it runs out in `feed`, or, in the
    # explorer, at any point while it runs
    TIMERS = (Timer("end_of_turn", "silence_run_ms", "silence_duration_ms", (VadState.SPEECH,),
                    "end_of_turn", clock=False, zero_is_stopped=True),)
    ABSTRACTED = ("heard_ms",)

    def __init__(self, hypotheses, scale, eagerness: str = "auto",
                 prefix_padding_ms: int = 300) -> None:
        if eagerness not in MAX_WAIT_MS:
            raise ValueError(f"eagerness must be one of {', '.join(EAGERNESS)}, "
                             f"got {eagerness!r}")
        self.eagerness = eagerness
        self.heard_ms = 0  # the appended-audio timeline's end: where an early end falls
        super().__init__(hypotheses, scale, MAX_WAIT_MS[eagerness], prefix_padding_ms)

    @property
    def max_wait_ms(self) -> int:
        return self.silence_duration_ms

    def feed(self, symbol: FrameSymbol, duration_ms: int, audio_pos_ms: int,
             floor_band: int = INITIAL_FLOOR_BAND) -> FrameClass:
        self.heard_ms = audio_pos_ms + duration_ms
        return super().feed(symbol, duration_ms, audio_pos_ms, floor_band)

    def _turn_ended(self, event) -> None:
        """The classifier ends the turn now (the explorer's expiry: before the maximum)."""
        self.silence_run_ms = 0
        self.emit(SpeechStopped(self.heard_ms))
