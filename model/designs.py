"""Designs: a client configuration plus a transport, selectable by name.

`production` and `development` are exactly the two builds of the field report. The fixes
(issue "check the fixes") are further entries of the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from vadlock.model.symbols import LevelScale
from vadlock.model.hypotheses import server_vad_edges


@dataclass(frozen=True)
class GateConfig:
    """The client VAD gate. `mode`: off | zeros | comfort_noise."""

    mode: str = "zeros"
    threshold_rms: float = 0.03  # clientVADThreshold
    lag_chunks: int = 0  # 1: decides on the previous chunk's energy (lastMicrophoneEnergy)
    hangover_ms: int = 0  # hysteresis gate: stay open this long after the level drops
    preroll_chunks: int = 0  # delay line: a chunk passes if it or any of the next N is loud
    comfort_noise_dbfs: float = -60.0  # comfort-noise gate: what it sends instead of zeros


@dataclass(frozen=True)
class LivenessConfig:
    """Liveness watchdog keyed on server events, with an escalation ladder: the first rung
    after `first_rung_ms` of speech-level audio sent with no sign of the server's turn
    detection, each further rung after `next_rung_ms` more (a healthy server answers the
    onset of speech within ~0.5 s)."""

    first_rung_ms: int = 3_000
    next_rung_ms: int = 2_000


@dataclass(frozen=True)
class WatchdogSpec:
    """A watchdog as clients write one: after `after_ms` of `condition` do `actions`
    (vocabularies in `model.client.rules`); run by a `WatchdogRule` machine."""

    condition: str
    after_ms: int
    actions: tuple[str, ...]


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
    fixes: str = ""  # what this design changes, for the review
    # the rest of turn_detection, as sent in session.update (the API's defaults)
    vad_type: str = "server_vad"  # server_vad | semantic_vad
    vad_threshold: float = 0.5  # server_vad threshold on the detector's speech probability
    prefix_padding_ms: int = 300
    create_response: bool = True
    interrupt_response: bool = True
    eagerness: str = "auto"  # semantic_vad only: low | medium | high | auto
    noise_reduction: str | None = None  # None | near_field | far_field
    watchdog_rules: tuple[WatchdogSpec, ...] = ()  # generic watchdogs (design files)

    def turn_detection(self) -> dict:
        """The `turn_detection` object the client sends (server_vad or semantic_vad
        fields)."""
        from vadlock.model import protocol
        from vadlock.model.server import semantic_vad

        if self.vad_type == "semantic_vad":
            return semantic_vad.turn_detection(self.eagerness, self.create_response,
                                               self.interrupt_response)
        return protocol.turn_detection_config(
            threshold=self.vad_threshold, prefix_padding_ms=self.prefix_padding_ms,
            silence_duration_ms=self.silence_duration_ms, idle_timeout_ms=self.idle_timeout_ms,
            create_response=self.create_response, interrupt_response=self.interrupt_response)

    def unhonoured(self) -> list[str]:
        """The parameters the model does not honour yet, one line each (never silent)."""
        out = []
        if self.vad_type == "semantic_vad" and self.idle_timeout_ms is not None:
            out.append("idle_timeout_ms applies to server_vad only: not sent with "
                       "semantic_vad")
        if self.vad_type == "server_vad" and self.eagerness != "auto":
            out.append("turn_detection.eagerness applies to semantic_vad only: ignored by "
                       "server_vad")
        return out

    @property
    def audio_context(self) -> bool:
        """Whether captured audio goes through an AudioContext (the WebSocket client's
        AudioWorklet); over WebRTC the track goes to the peer connection directly."""
        return self.transport == "websocket"

    @property
    def level_scale(self) -> LevelScale:
        return LevelScale.build(
            **server_vad_edges(self.vad_threshold),
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

NO_GATE = replace(
    PRODUCTION, name="no-gate", gate=GateConfig(mode="off"),
    summary="Production without the client VAD gate: every chunk is sent as captured.",
    fixes="sends every chunk as captured: no zeros")

COMFORT_NOISE_GATE = replace(
    PRODUCTION, name="comfort-noise-gate",
    gate=GateConfig(mode="comfort_noise", comfort_noise_dbfs=-60.0),
    summary="Production, but quiet chunks are replaced by -60 dBFS pink noise, not zeros.",
    fixes="sends -60 dBFS noise for quiet chunks instead of zeros")

HYSTERESIS_GATE = replace(
    PRODUCTION, name="hysteresis-gate",
    gate=GateConfig(mode="zeros", hangover_ms=600, preroll_chunks=1),
    summary="Production's zeroing gate with a 600 ms hangover and 100 ms pre-roll "
    "(a chunk passes when it or the next one is loud).",
    fixes="keeps the gate open 600 ms after speech and 100 ms before it; zeros in pauses")

LIVENESS = replace(
    PRODUCTION, name="liveness-watchdog", liveness=LivenessConfig(),
    summary="Production plus a liveness watchdog keyed on the server's turn events: after "
    "3 s of speech-level audio with none it escalates, a rung per further 2 s: session.update "
    "re-applying turn_detection -> input_audio_buffer.commit (or clear) -> reconnect with "
    "conversation replay.",
    fixes="climbs a ladder (re-apply turn_detection, commit or clear, reconnect with replay) "
    "while the user audibly speaks and the server shows no turn events")

CAPTURE_HEALTH = replace(
    PRODUCTION, name="capture-health", capture_health_ms=5_000,
    summary="Production plus a capture-health watchdog: 5 s of near-silent raw input "
    "(int16 peaks under ~50) or no chunks -> re-acquire the microphone / resume the "
    "AudioContext, with a notice to the UI.",
    fixes="re-acquires the microphone or resumes the AudioContext after 5 s of near-silent "
    "raw input, with a notice")

IDLE_TIMEOUT = replace(
    PRODUCTION, name="idle-timeout", idle_timeout_ms=15_000,
    summary="Production with server_vad.idle_timeout_ms = 15000: the server prompts after "
    "15 s without speech (following a response's playback).",
    fixes="asks the server to prompt after 15 s without speech")

WEBRTC = replace(
    PRODUCTION, name="webrtc", transport="webrtc", gate=GateConfig(mode="off"),
    summary="The production client moved to WebRTC: audio on a media track (Opus with DTX: "
    "silence travels as comfort noise; 1% loss; jitter), events on the data channel; the "
    "server plays, truncates and reports output_audio_buffer.*; no AudioWorklet gate.",
    fixes="moves audio to a WebRTC media track: no worklet, gate or AudioContext; DTX "
    "comfort noise")

RECOMMENDED = replace(
    PRODUCTION, name="recommended",
    gate=GateConfig(mode="comfort_noise", hangover_ms=600, preroll_chunks=1,
                    comfort_noise_dbfs=-60.0),
    liveness=LivenessConfig(), capture_health_ms=5_000, idle_timeout_ms=15_000,
    summary="Comfort-noise gate with hangover and pre-roll, liveness watchdog with its "
    "escalation ladder, capture-health watchdog, and the server's idle_timeout_ms.",
    fixes="comfort-noise gate with hangover and pre-roll, both watchdogs, idle_timeout_ms")

DESIGNS: dict[str, Design] = {d.name: d for d in (
    PRODUCTION, DEVELOPMENT, NO_GATE, COMFORT_NOISE_GATE, HYSTERESIS_GATE, LIVENESS,
    CAPTURE_HEALTH, IDLE_TIMEOUT, WEBRTC, RECOMMENDED)}


class UnknownDesign(ValueError):
    pass


# designs read from files (`--design-file`), by name, next to the built-in ones; a process
# pool's workers get them through `register_designs` as their initializer
FILE_DESIGNS: dict[str, Design] = {}


def register_designs(designs) -> None:
    """Make designs (from files) known to `get_design` by their names."""
    for design in designs:
        if design.name in DESIGNS:
            raise UnknownDesign(f"design file: name {design.name!r} is a built-in design's; "
                                "choose another")
        FILE_DESIGNS[design.name] = design


def _base(name: str) -> Design:
    return FILE_DESIGNS[name] if name in FILE_DESIGNS else DESIGNS[name]


# Variants of a design, named by suffixes: "production+chunk20ms+silence200ms+lag1".
# The values the reference says real clients and servers use: chunks of 20-100 ms, a
# silence_duration_ms of 500 (documented) or 200 (seen in session.created), and a gate that
# decides on this chunk's energy or on the previous one's (lastMicrophoneEnergy).
VARIANT_RANGES = {"chunk": (10, 1_000), "silence": (50, 5_000), "lag": (0, 1),
                  "threshold": (0.01, 0.99)}
_VARIANT = re.compile(r"^(chunk|silence)(\d+)ms$|^(lag)(\d+)$|^(threshold)(\d*\.\d+)$"
                      r"|^(semantic)-(low|medium|high|auto)$|^(nr)-(near|far)$")
NOISE_REDUCTION = {"near": "near_field", "far": "far_field"}


def variant(design: Design, chunk_ms: int | None = None, silence_duration_ms: int | None = None,
            gate_lag_chunks: int | None = None, vad_threshold: float | None = None,
            semantic_eagerness: str | None = None, noise_reduction: str | None = None
            ) -> Design:
    """`design` with other chunk, silence duration, gate lag or threshold, semantic_vad
    with an eagerness (`+semantic-low`), or the server's input noise reduction
    (`+nr-near`, `+nr-far`), named after the change."""
    base = design.name.split("+")[0]
    chunk = design.chunk_ms if chunk_ms is None else chunk_ms
    silence = design.silence_duration_ms if silence_duration_ms is None else silence_duration_ms
    lag = design.gate.lag_chunks if gate_lag_chunks is None else gate_lag_chunks
    threshold = design.vad_threshold if vad_threshold is None else vad_threshold
    for key, value in (("chunk", chunk), ("silence", silence), ("lag", lag),
                       ("threshold", threshold)):
        low, high = VARIANT_RANGES[key]
        if not low <= value <= high:
            raise UnknownDesign(f"design {base}: {key} {value} out of range {low}..{high}")
    if chunk % 10:
        raise UnknownDesign(f"design {base}: chunk {chunk} ms is not a multiple of 10 ms")
    vad_type, eagerness = design.vad_type, design.eagerness
    if semantic_eagerness is not None:
        vad_type, eagerness = "semantic_vad", semantic_eagerness
    reduction = design.noise_reduction if noise_reduction is None else noise_reduction
    original = _base(base)
    suffix = "".join(
        [f"+chunk{chunk}ms"] * (chunk != original.chunk_ms)
        + [f"+silence{silence}ms"] * (silence != original.silence_duration_ms)
        + [f"+lag{lag}"] * (lag != original.gate.lag_chunks)
        + [f"+threshold{threshold:g}"] * (threshold != original.vad_threshold)
        + [f"+semantic-{eagerness}"] * ((vad_type, eagerness) !=
                                        (original.vad_type, original.eagerness)
                                        and vad_type == "semantic_vad")
        + [f"+nr-{(reduction or '').split('_')[0]}"] * (
            reduction != original.noise_reduction and reduction is not None))
    return replace(design, name=base + suffix, chunk_ms=chunk, silence_duration_ms=silence,
                   gate=replace(design.gate, lag_chunks=lag), vad_threshold=threshold,
                   vad_type=vad_type, eagerness=eagerness, noise_reduction=reduction)


def get_design(name: str) -> Design:
    """A design by name, with optional variant suffixes (`production+chunk20ms`)."""
    base, *mods = name.strip().split("+")
    if base not in DESIGNS and base not in FILE_DESIGNS:
        raise UnknownDesign(f"unknown design {base!r} (known: "
                            f"{', '.join([*DESIGNS, *FILE_DESIGNS])}; variants: "
                            "NAME+chunk20ms, +silence200ms, +lag1, +threshold0.7, "
                            "+semantic-low|medium|high|auto, +nr-near|far)")
    changes: dict[str, int | float | str] = {}
    for mod in mods:
        match = _VARIANT.match(mod)
        if not match:
            raise UnknownDesign(f"design {name!r}: unknown variant {mod!r} (known: chunkNms, "
                                "silenceNms, lagN, thresholdX.Y, semantic-low|medium|high|"
                                "auto, nr-near|far)")
        key, value = next((match.group(i), match.group(i + 1)) for i in (1, 3, 5, 7, 9)
                          if match.group(i))
        changes[{"chunk": "chunk_ms", "silence": "silence_duration_ms",
                 "lag": "gate_lag_chunks", "threshold": "vad_threshold",
                 "semantic": "semantic_eagerness", "nr": "noise_reduction"}[key]] = (
            float(value) if key == "threshold" else value if key == "semantic"
            else NOISE_REDUCTION[value] if key == "nr" else int(value))
    return variant(_base(base), **changes) if changes else _base(base)
