"""server_vad turn detection, under a chosen set of hypotheses.

States: `silence` -> (a speech frame) -> `speech`, emitting `speech_started` with
`audio_start_ms` = onset - `prefix_padding_ms` on the appended-audio timeline; in speech,
a run of `silence_duration_ms` of silence frames -> `silence`, emitting `speech_stopped`
(the session then commits and, with `create_response`, starts a response). What counts as
a speech, silence or held frame is decided per frame by `classify` (today the hypotheses'
decision, `model.hypotheses`; the one place a detector's probability would go).

Input: `feed(symbol, duration_ms, audio_pos_ms, floor_band)` for a run of identical frames
(`floor_band`: the adaptive floor's band, `model.server.floor`). Outputs: `SpeechStarted`,
`SpeechStopped`.
"""

from dataclasses import dataclass

from vadlock.model.hypotheses import INITIAL_FLOOR_BAND, FrameClass, ServerVadHypotheses
from vadlock.model.machine import ProtocolMachine
from vadlock.model.symbols import FrameSymbol, LevelScale


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int


class VadState:
    """The states of `ServerVad`."""

    SILENCE = "silence"
    SPEECH = "speech"


class ServerVad(ProtocolMachine):
    NAME = "server_vad"
    STATES = (VadState.SILENCE, VadState.SPEECH)
    INITIAL = VadState.SILENCE
    TRANSITIONS = (
        {"trigger": "speech_frame", "source": VadState.SILENCE, "dest": VadState.SPEECH,
         "after": "_started"},
        {"trigger": "speech_frame", "source": VadState.SPEECH, "dest": None,
         "after": "_reset_silence"},
        {"trigger": "silence_frame", "source": VadState.SILENCE, "dest": None},
        {"trigger": "silence_frame", "source": VadState.SPEECH, "dest": VadState.SILENCE,
         "conditions": "_silence_long_enough", "after": "_stopped"},
        {"trigger": "silence_frame", "source": VadState.SPEECH, "dest": None,
         "after": "_count_silence"},
        {"trigger": "held_frame", "source": "*", "dest": None},
        {"trigger": "reset", "source": "*", "dest": VadState.SILENCE,
         "after": "_reset_silence"},
    )
    DATA = ("silence_run_ms",)
    TRIGGER_ARGS = {"speech_frame": ("onset_ms",), "silence_frame": ("duration_ms", "end_ms")}

    def __init__(self, hypotheses: ServerVadHypotheses, scale: LevelScale,
                 silence_duration_ms: int = 500, prefix_padding_ms: int = 300) -> None:
        self.hypotheses = hypotheses
        self.scale = scale
        self.silence_duration_ms = silence_duration_ms
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_run_ms = 0
        super().__init__()

    def classify(self, symbol: FrameSymbol, floor_band: int) -> FrameClass:
        """The per-frame decision: speech, silence, or held (neither)."""
        return self.hypotheses.classify(symbol, self.scale, self.state == VadState.SPEECH,
                                         floor_band)

    def feed(self, symbol: FrameSymbol, duration_ms: int, audio_pos_ms: int,
             floor_band: int = INITIAL_FLOOR_BAND) -> FrameClass:
        """A run of `duration_ms` of frames equal to `symbol`, starting at `audio_pos_ms`;
        returns how its frames were classified."""
        frame_class = self.classify(symbol, floor_band)
        if frame_class is FrameClass.SPEECH:
            self.speech_frame(onset_ms=audio_pos_ms)
        elif frame_class is FrameClass.HOLD:
            self.held_frame()
        elif self.state == VadState.SPEECH:
            needed = self.silence_duration_ms - self.silence_run_ms
            if needed <= duration_ms:
                self.silence_frame(duration_ms=needed, end_ms=audio_pos_ms + needed)
                # the rest of the run is silence in the silence state: nothing to count
            else:
                self.silence_frame(duration_ms=duration_ms, end_ms=audio_pos_ms + duration_ms)
        return frame_class

    def _started(self, event) -> None:
        self.silence_run_ms = 0
        onset_ms = event.kwargs["onset_ms"]
        self.emit(SpeechStarted(max(0, onset_ms - self.prefix_padding_ms)))

    def _reset_silence(self, event) -> None:
        self.silence_run_ms = 0

    def _silence_long_enough(self, event) -> bool:
        return self.silence_run_ms + event.kwargs["duration_ms"] >= self.silence_duration_ms

    def _count_silence(self, event) -> None:
        self.silence_run_ms += event.kwargs["duration_ms"]

    def _stopped(self, event) -> None:
        self.silence_run_ms = 0
        self.emit(SpeechStopped(event.kwargs["end_ms"]))
