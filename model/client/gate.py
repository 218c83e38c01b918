"""The client VAD gate: quiet chunks are replaced before `input_audio_buffer.append`.

Production: per chunk, if the microphone RMS is below `clientVADThreshold` (0.03) the chunk
is sent as zeros of the same length. With `lag_chunks = 1` the decision uses the previous
chunk's energy (`lastMicrophoneEnergy`; 0 and 1 are the lags modelled). With `hangover_ms`
it stays open that long after the level drops (hysteresis). The comfort-noise variant sends
low-level noise instead of exact zeros. Mode `off` (development) always passes. (Pre-roll is
a delay line in front of the gate, in the client session: the gate is then fed the loudest
level of the line.)

Input: `chunk(symbol)` once per chunk. Output: "raw" | "zeros" | "comfort_noise" — what to
put on the wire for that chunk.
"""

from vadlock.model.machine import ProtocolMachine, Timer


class GateState:
    """The states of `VadGate`."""

    PASSING = "passing"
    HANGOVER = "hangover"
    ZEROING = "zeroing"


class VadGate(ProtocolMachine):
    NAME = "gate"
    STATES = (GateState.PASSING, GateState.HANGOVER, GateState.ZEROING)
    INITIAL = GateState.PASSING
    TRANSITIONS = (
        {"trigger": "loud_chunk", "source": "*", "dest": GateState.PASSING,
         "after": "_reset_hangover"},
        {"trigger": "quiet_chunk", "source": GateState.PASSING, "dest": GateState.HANGOVER,
         "conditions": "_has_hangover", "after": "_reset_hangover"},
        {"trigger": "quiet_chunk", "source": GateState.PASSING, "dest": GateState.ZEROING},
        {"trigger": "quiet_chunk", "source": GateState.HANGOVER, "dest": GateState.ZEROING,
         "conditions": "_hangover_spent"},
        {"trigger": "quiet_chunk", "source": GateState.HANGOVER, "dest": None,
         "after": "_count_hangover"},
        {"trigger": "quiet_chunk", "source": GateState.ZEROING, "dest": None},
        {"trigger": "hangover_spent", "source": GateState.HANGOVER, "dest": None,
         "after": "_last_hangover_chunk"},
    )
    DATA = ("hangover_left_ms",)
    # counted in chunks; when it runs out, the next quiet chunk closes the gate (a real run
    # needs no more than that chunk)
    TIMERS = (Timer("hangover", "hangover_left_ms", "chunk_ms", (GateState.HANGOVER,),
                    "hangover_spent", clock=False, counts_down=True, wait_ms=0),)

    def __init__(self, mode: str, threshold_level: int, lag_chunks: int, hangover_ms: int,
                 chunk_ms: int) -> None:
        self.mode = mode
        self.threshold_level = threshold_level
        self.lag_chunks = lag_chunks
        self.hangover_ms = hangover_ms
        self.chunk_ms = chunk_ms
        self.hangover_left_ms = 0
        super().__init__()

    def _has_hangover(self, event) -> bool:
        return self.hangover_ms > 0

    def _hangover_spent(self, event) -> bool:
        return self.hangover_left_ms <= self.chunk_ms

    def _reset_hangover(self, event) -> None:
        self.hangover_left_ms = self.hangover_ms

    def _count_hangover(self, event) -> None:
        self.hangover_left_ms -= self.chunk_ms

    def load_abstract_snapshot(self, snap: tuple) -> None:
        super().load_abstract_snapshot(snap)
        if self.hangover_left_ms:  # an abstract running hangover runs until it is expired
            self.hangover_left_ms = max(self.hangover_ms, self.chunk_ms + 1)

    def _last_hangover_chunk(self, event) -> None:
        self.hangover_left_ms = self.chunk_ms

    @property
    def closed_output(self) -> str:
        return "comfort_noise" if self.mode == "comfort_noise" else "zeros"

    def chunk(self, level: int) -> str:
        """Feed one chunk's level; return what to send for it."""
        if self.mode == "off":
            return "raw"
        before = self.state
        if level >= self.threshold_level:
            self.loud_chunk()
        else:
            self.quiet_chunk()
        deciding = before if self.lag_chunks else self.state
        return "raw" if deciding != GateState.ZEROING else self.closed_output
