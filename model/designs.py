"""Designs: a client configuration plus a transport, selectable by name.

`production` and `development` are exactly the two builds of the field report. The fixes
(issue "check the fixes") are further entries of the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from model.symbols import LevelScale
from model.hypotheses import SERVER_SPEECH_RMS


@dataclass(frozen=True)
class GateConfig:
    """The client VAD gate. `mode`: off | zeros | comfort_noise | hysteresis."""

    mode: str = "zeros"
    threshold_rms: float = 0.03  # clientVADThreshold
    lag_chunks: int = 0  # 1: decides on the previous chunk's energy (lastMicrophoneEnergy)
    hangover_ms: int = 0  # hysteresis gate: stay open this long after the level drops
    comfort_noise_dbfs: float = -60.0  # comfort-noise gate: what it sends instead of zeros


@dataclass(frozen=True)
class LivenessConfig:
    """Liveness watchdog keyed on server events, with an escalation ladder."""

    silence_ms: int = 8_000  # no server event this long while the user was heard locally
    ladder: tuple[str, ...] = ("session_update", "clear_and_commit", "reconnect")


@dataclass(frozen=True)
class Design:
    name: str
    summary: str
    gate: GateConfig = field(default_factory=GateConfig)
    interrupt_rms: float = 0.1  # INTERRUPTION_ENERGY_THRESHOLD
    stuck_vad_watchdog_ms: int | None = 30_000
    liveness: LivenessConfig | None = None
    capture_health_ms: int | None = None  # near-silent raw input this long -> re-acquire
    idle_timeout_ms: int | None = None  # server_vad.idle_timeout_ms sent in session.update
    silence_duration_ms: int = 500
    transport: str = "websocket"  # websocket | webrtc
    chunk_ms: int = 100

    @property
    def level_scale(self) -> LevelScale:
        return LevelScale.build(
            server_speech=SERVER_SPEECH_RMS,
            gate=self.gate.threshold_rms,
            interrupt=self.interrupt_rms,
        )


PRODUCTION = Design(
    name="production",
    summary="The report's production build: zeroing VAD gate at RMS 0.03, interruption at "
    "RMS 0.1, 30 s stuck-VAD watchdog that sends input_audio_buffer.clear.",
)

DEVELOPMENT = Design(
    name="development",
    summary="The report's development build: no gate, interruption at RMS 0.02, no watchdog.",
    gate=GateConfig(mode="off"),
    interrupt_rms=0.02,
    stuck_vad_watchdog_ms=None,
)

DESIGNS: dict[str, Design] = {d.name: d for d in (PRODUCTION, DEVELOPMENT)}


class UnknownDesign(ValueError):
    pass


def get_design(name: str) -> Design:
    try:
        return DESIGNS[name]
    except KeyError:
        raise UnknownDesign(f"unknown design {name!r} (known: {', '.join(DESIGNS)})") from None


def with_chunk_ms(design: Design, chunk_ms: int) -> Design:
    return replace(design, chunk_ms=chunk_ms)
