"""server_vad turn detection, under a chosen set of hypotheses.

States: `silence` -> (a speech frame) -> `speech`, emitting `speech_started` with
`audio_start_ms` = onset - `prefix_padding_ms` on the appended-audio timeline; in speech,
a run of `silence_duration_ms` of silence frames -> `silence`, emitting `speech_stopped`
(the session then commits and, with `create_response`, starts a response). What counts as
a speech, silence or held frame is the hypotheses' decision (`model.hypotheses`).

Input: `feed(symbol, duration_ms, audio_pos_ms)` for a run of identical frames.
"""

from vadlock.model.hypotheses import INITIAL_FLOOR_BAND, FrameClass, ServerVadHypotheses
from vadlock.model.machine import ProtocolMachine
from vadlock.model.symbols import FrameSymbol, LevelScale


class ServerVad(ProtocolMachine):
    NAME = "server_vad"
    STATES = ("silence", "speech")
    INITIAL = "silence"
    TRANSITIONS = (
        {"trigger": "speech_frame", "source": "silence", "dest": "speech", "after": "_started"},
        {"trigger": "speech_frame", "source": "speech", "dest": None, "after": "_reset_silence"},
        {"trigger": "silence_frame", "source": "silence", "dest": None},
        {"trigger": "silence_frame", "source": "speech", "dest": "silence",
         "conditions": "_silence_long_enough", "after": "_stopped"},
        {"trigger": "silence_frame", "source": "speech", "dest": None, "after": "_count_silence"},
        {"trigger": "held_frame", "source": "*", "dest": None},
        {"trigger": "reset", "source": "*", "dest": "silence", "after": "_reset_silence"},
    )
    DATA = ("silence_run_ms", "floor_band", "floor_target", "floor_rise_ms", "floor_fall_ms")
    TIMERS = ("floor_rise_ms",)

    def __init__(self, hypotheses: ServerVadHypotheses, scale: LevelScale,
                 silence_duration_ms: int = 500, prefix_padding_ms: int = 300) -> None:
        self.hypotheses = hypotheses
        self.scale = scale
        self.silence_duration_ms = silence_duration_ms
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_run_ms = 0
        self.floor_band = INITIAL_FLOOR_BAND
        self.floor_target = 0  # the band the adaptive floor is climbing toward (0: none)
        self.floor_rise_ms = 0
        self.floor_fall_ms = 0
        super().__init__()

    def feed(self, symbol: FrameSymbol, duration_ms: int, audio_pos_ms: int) -> None:
        """A run of `duration_ms` of frames equal to `symbol`, starting at `audio_pos_ms`."""
        frame_class = self.hypotheses.classify(
            symbol, self.scale, self.state == "speech", self.floor_band)
        if frame_class is FrameClass.SPEECH:
            self.speech_frame(audio_pos_ms)
        elif frame_class is FrameClass.HOLD:
            self.held_frame()
        elif self.state == "speech":
            needed = self.silence_duration_ms - self.silence_run_ms
            if needed <= duration_ms:
                self.silence_frame(needed, audio_pos_ms + needed)
                # the rest of the run is silence in the silence state: nothing to count
            else:
                self.silence_frame(duration_ms, audio_pos_ms + duration_ms)
        (self.floor_band, self.floor_target, self.floor_rise_ms,
         self.floor_fall_ms) = self.hypotheses.next_floor(
            symbol, self.scale, frame_class,
            (self.floor_band, self.floor_target, self.floor_rise_ms, self.floor_fall_ms),
            duration_ms)

    def climb_floor(self) -> None:
        """The floor's climb timer expires: one band up toward its target (explorer)."""
        if self.floor_target > self.floor_band:
            self.floor_band += 1
            done = self.floor_band >= self.floor_target
            self.floor_target = 0 if done else self.floor_target
            self.floor_rise_ms = 0 if done else 1

    def _started(self, event) -> None:
        self.silence_run_ms = 0
        onset_ms = event.args[0]
        self.emit(("speech_started", max(0, onset_ms - self.prefix_padding_ms)))

    def _reset_silence(self, event) -> None:
        self.silence_run_ms = 0

    def _silence_long_enough(self, event) -> bool:
        return self.silence_run_ms + event.args[0] >= self.silence_duration_ms

    def _count_silence(self, event) -> None:
        self.silence_run_ms += event.args[0]

    def _stopped(self, event) -> None:
        self.silence_run_ms = 0
        self.emit(("speech_stopped", event.args[1]))
