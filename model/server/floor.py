"""The adaptive noise floor (hypothesis `floor-adapt`): the band speech must stand above.

`hear(symbol, frame_class, ms)` moves it after a run of frames, as `ServerVadHypotheses.
next_floor` decides (only under `floor-adapt`; otherwise it stays at its initial band).
It falls to quieter non-speech audio that lasts `FLOOR_FALL_MS` (the `floor_fall` timer,
running while such audio has been heard, to the band of the latest: `fall_band`); toward
louder non-speech audio it is `climbing`, one band per `FLOOR_RISE_MS` of that audio (the
`floor_climb` timer). Both count audio, not wall time, and no guard reads their counters
but their own expiry: the explorer keeps them as "running or not" and fires them at any
point (`model.machine.Timer`), an over-approximation its replay judges.
"""

from vadlock.model.hypotheses import FLOOR_FALL_MS, FLOOR_RISE_MS, INITIAL_FLOOR_BAND, \
    FrameClass, ServerVadHypotheses
from vadlock.model.machine import ProtocolMachine, Timer
from vadlock.model.symbols import FrameSymbol, LevelScale


class FloorState:
    """The states of `AdaptiveFloor`."""

    STEADY = "steady"
    CLIMBING = "climbing"


class AdaptiveFloor(ProtocolMachine):
    NAME = "adaptive_floor"
    STATES = (FloorState.STEADY, FloorState.CLIMBING)
    INITIAL = FloorState.STEADY
    TRANSITIONS = (
        {"trigger": "settle", "source": "*", "dest": FloorState.CLIMBING,
         "conditions": "_below_target"},
        {"trigger": "settle", "source": "*", "dest": FloorState.STEADY},
        {"trigger": "climb", "source": FloorState.CLIMBING, "dest": FloorState.STEADY,
         "conditions": "_one_band_short", "after": "_climb_one_band"},
        {"trigger": "climb", "source": FloorState.CLIMBING, "dest": None,
         "after": "_climb_one_band"},
        {"trigger": "fall", "source": "*", "dest": FloorState.STEADY,
         "after": "_fall_to_quieter"},
    )
    DATA = ("band", "target_band", "rise_ms", "fall_ms", "fall_band")
    TIMERS = (Timer("floor_climb", "rise_ms", "rise_limit_ms", (FloorState.CLIMBING,), "climb",
                    clock=False),
              Timer("floor_fall", "fall_ms", "fall_limit_ms", STATES, "fall", clock=False,
                    zero_is_stopped=True))

    def __init__(self, hypotheses: ServerVadHypotheses, scale: LevelScale) -> None:
        self.hypotheses = hypotheses
        self.scale = scale
        self.rise_limit_ms = FLOOR_RISE_MS
        self.fall_limit_ms = FLOOR_FALL_MS
        self.band = INITIAL_FLOOR_BAND
        self.target_band = 0  # the band it is climbing toward (0: none)
        self.rise_ms = 0
        self.fall_ms = 0
        self.fall_band = 0  # the band it falls to when `floor_fall` runs out (0: none)
        super().__init__()

    def hear(self, symbol: FrameSymbol, frame_class: FrameClass, duration_ms: int) -> None:
        """A run of `duration_ms` of frames equal to `symbol`, classified `frame_class`."""
        (self.band, self.target_band, self.rise_ms, self.fall_ms,
         self.fall_band) = self.hypotheses.next_floor(
            symbol, self.scale, frame_class,
            (self.band, self.target_band, self.rise_ms, self.fall_ms, self.fall_band),
            duration_ms)
        self.settle()

    def _below_target(self, event) -> bool:
        return self.target_band > self.band

    def _one_band_short(self, event) -> bool:
        return self.band + 1 >= self.target_band

    def _climb_one_band(self, event) -> None:
        self.band += 1
        done = self.band >= self.target_band
        self.target_band = 0 if done else self.target_band
        self.rise_ms = 0 if done else 1  # short of the target, the climb goes on

    def _fall_to_quieter(self, event) -> None:
        self.band, self.target_band, self.rise_ms = self.fall_band, 0, 0
        self.fall_ms = self.fall_band = 0
