"""Server VAD hypotheses: named, combinable guesses about how the server VAD works.

Nobody outside OpenAI knows the server VAD's internals. The base hypothesis, `energy`, is
what the documentation says ("based on audio volume"); every other flag is one small,
documented difference. Each result vadlock reports is per hypothesis set.

The decision a hypothesis makes is *per frame*: a frame is speech (p >= threshold),
silence (p < threshold, advances the silence timer), held (neither ends speech nor
advances the timer) or — for the adaptive floor — also moves the noise floor.

The server_vad `threshold` goes on the wire as configured (0.5, the documented default,
in every built-in design; `+thresholdX.Y` varies it). The symbols carry it as one mapping,
shared by the simulator and the explorer (a design's `level_scale`): the base's speech edge
is `speech_edge_rms(threshold)` (-40 dBFS at 0.5), and the `deadband` hypothesis's lower
edge `dead_band_edge_rms(threshold)` moves with it (-56 dBFS at 0.5). That is where the
`energy` engine's probability for a speech-like frame crosses threshold and threshold -
0.15 (an ASSUMPTION: `simulator/detectors/energy.py`). Key clicks keep the symbolic rule at
every threshold (never speech unless `noise-as-speech`), where the `energy` engine gives
them a fixed p = 0.425: the two differ on clicks at thresholds at or below 0.425 and above
0.575.

Instead of the symbolic base, a real detector engine can decide (`ENGINES`: `silero`,
`webrtc-vad[:MODE]`, `ten`, and `energy`, the base as a probability): the simulator runs it
on the audio the server received and each frame then carries the engine's verdict against
the session's threshold (`FrameSymbol.detection`). The modifiers that say something about
the server around its detector combine with an engine (`silero,zero-skip`); `floor-adapt`
and `noise-as-speech` describe the energy detector itself, so a real engine replaces them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import lru_cache

from vadlock.model.symbols import NEAR_SILENT_RMS, Detection, FrameSymbol, Kind, LevelScale

SERVER_SPEECH_RMS = 0.01  # about -40 dBFS: the base energy VAD's edge at threshold 0.5
# The energy rule as a probability (simulator/detectors/energy.py) -- an ASSUMPTION: p rises
# by ENERGY_DEADBAND per ENERGY_DB_PER_DEADBAND dB, 0.5 at SERVER_SPEECH_RMS.
ENERGY_DEADBAND = 0.15
ENERGY_DB_PER_DEADBAND = 16.0


def speech_edge_rms(threshold: float) -> float:
    """The RMS at which the energy rule's probability reaches `threshold` (-40 dBFS at 0.5,
    about -29 dBFS at 0.6): the server-speech edge of a design's level scale, so that the
    symbols decide as the energy engine does at any threshold."""
    return SERVER_SPEECH_RMS * 10 ** ((threshold - 0.5) / ENERGY_DEADBAND
                                      * ENERGY_DB_PER_DEADBAND / 20)


def dead_band_edge_rms(threshold: float) -> float:
    """The lower edge of the `deadband` hypothesis's hold band: the near-silent edge
    (-56 dBFS) at 0.5, moved by as many dB as the speech edge (`speech_edge_rms`), so the
    band stays the 16 dB in which the energy rule's probability lies in [threshold - 0.15,
    threshold)."""
    return NEAR_SILENT_RMS * speech_edge_rms(threshold) / SERVER_SPEECH_RMS


DEFAULT_THRESHOLD = 0.5  # the documented default: the scale needs no dead-band edge of its own


def server_vad_edges(threshold: float) -> dict[str, float]:
    """The server VAD's named RMS edges of a level scale at `threshold` (`LevelScale.build`
    adds the fixed trace and near-silent edges): the speech edge, and the dead band's lower
    edge when it is not the near-silent edge (a threshold other than 0.5)."""
    edges = {"server_speech": speech_edge_rms(threshold)}
    if threshold != DEFAULT_THRESHOLD:
        edges["dead_band"] = dead_band_edge_rms(threshold)
    return edges


FLOOR_RISE_MS = 2_000  # the adaptive floor climbs one band per this much non-speech audio
FLOOR_FALL_MS = 200  # ... and falls to quieter non-speech audio that lasts this long


class FrameClass(enum.Enum):
    SPEECH = "speech"
    SILENCE = "silence"
    HOLD = "hold"


class HypothesisFlag(str, enum.Enum):
    """The hypothesis names: `ServerVadHypotheses.has` takes these (a misspelt name is an
    error, not False)."""

    ENERGY = "energy"
    ZERO_SKIP = "zero-skip"
    FLOOR_ADAPT = "floor-adapt"
    DEADBAND = "deadband"
    CLEAR_KEEPS_VAD = "clear-keeps-vad"
    NOISE_AS_SPEECH = "noise-as-speech"


@dataclass(frozen=True)
class Hypothesis:
    name: str
    summary: str
    provenance: str


HYPOTHESES: dict[str, Hypothesis] = {
    h.name: h
    for h in (
        Hypothesis(
            "energy",
            "Base: a speech-like frame at or above -40 dBFS is speech; everything else, "
            "exact zeros included, is silence and advances the silence timer.",
            "Realtime VAD guide: server_vad detects speech 'based on audio volume'.",
        ),
        Hypothesis(
            "zero-skip",
            "Exact-zero frames are 'no audio' (like a DTX gap): they neither count as "
            "speech nor advance the silence timer.",
            "WebRTC VAD skips frames with energy <= kMinEnergy and freezes its model "
            "(vad_core.c); digital silence is a known weak spot (silero-vad#396).",
        ),
        Hypothesis(
            "floor-adapt",
            "An adaptive noise floor: speech must stand one band above it, up to the base "
            "edge (speech at or above -40 dBFS always counts); the floor falls to quieter "
            "non-speech audio within 200 ms, climbs one band per 2 s of louder non-speech "
            "audio, and exact zeros freeze it.",
            "WebRTC VAD minimum tracker with asymmetric smoothing 0.2/0.99 and its "
            "kMinEnergy skip (vad_sp.c, vad_core.c).",
        ),
        Hypothesis(
            "deadband",
            "Silero-style hysteresis: while in speech, frames with p in [threshold - 0.15, "
            "threshold) — quiet speech-like frames (-56..-40 dBFS) and audible key clicks — "
            "neither end speech nor advance the silence timer.",
            "silero-vad VADIterator: leaves speech only below threshold - 0.15.",
        ),
        Hypothesis(
            "clear-keeps-vad",
            "input_audio_buffer.clear empties the buffer but leaves the VAD in speech.",
            "SPECULATIVE; the docs say clear empties the buffer and say nothing of VAD; "
            "openai-agents-js#1346 says clear resets the server's timers (evidence against).",
        ),
        Hypothesis(
            "noise-as-speech",
            "Keyboard transients at or above -40 dBFS are taken for speech.",
            "Noise-triggered speech_started reports (twilio-samples node#19, "
            "deepgram-python-sdk#403).",
        ),
    )
}


ENGINES = ("energy", "silero", "webrtc-vad", "ten")
ENGINE_MODIFIERS = frozenset({"zero-skip", "deadband", "clear-keeps-vad"})

assert set(HYPOTHESES) == {flag.value for flag in HypothesisFlag}


class UnknownHypothesis(ValueError):
    pass


def _parse_engine(name: str) -> tuple[str, int | None] | None:
    """(engine, option) for an engine token (`webrtc-vad:3` carries WebRTC VAD's mode)."""
    engine, _, option = name.partition(":")
    if engine not in ENGINES or engine == "energy" and option:
        return None
    if not option:
        return engine, None
    if engine != "webrtc-vad" or option not in ("0", "1", "2", "3"):
        raise UnknownHypothesis(f"engine option {name!r}: only webrtc-vad takes one, a mode "
                                "0-3 (webrtc-vad:3)")
    return engine, int(option)


@dataclass(frozen=True)
class ServerVadHypotheses:
    """A combination of hypothesis flags (`energy` is always the base)."""

    flags: frozenset[str] = frozenset()
    engine: str | None = None  # a real detector decides (None: the symbolic base)
    engine_option: int | None = None  # webrtc-vad's mode

    @classmethod
    def parse(cls, text: str) -> "ServerVadHypotheses":
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            raise UnknownHypothesis("no server hypothesis given")
        engines = []
        for n in names:
            parsed = _parse_engine(n)
            if parsed is not None:
                if parsed[0] != "energy":
                    engines.append(parsed)
            elif n not in HYPOTHESES:
                raise UnknownHypothesis(
                    f"unknown server hypothesis {n!r} (hypotheses: {', '.join(HYPOTHESES)}; "
                    f"engines: {', '.join(ENGINES)})")
        flags = frozenset(n for n in names if _parse_engine(n) is None)
        if len(engines) > 1:
            raise UnknownHypothesis(f"{text!r}: give at most one detector engine")
        if engines:
            engine, option = engines[0]
            for flag in sorted(flags - ENGINE_MODIFIERS):
                raise UnknownHypothesis(
                    f"{flag!r} describes the energy detector; with engine {engine} the "
                    f"detector decides (combine it with: {', '.join(sorted(ENGINE_MODIFIERS))})")
            return cls(flags, engine, option)
        return cls(flags)

    @property
    def engine_label(self) -> str | None:
        if self.engine is None:
            return None
        return self.engine + ("" if self.engine_option is None else f":{self.engine_option}")

    @property
    def label(self) -> str:
        if self.engine is not None:
            return ",".join([self.engine_label, *sorted(self.flags)])
        return ",".join(["energy", *sorted(self.flags)]) if not self.flags else ",".join(sorted(self.flags))

    def has(self, flag: HypothesisFlag | str) -> bool:
        """Whether `flag` is set; a name that is no hypothesis raises ValueError."""
        return (flag if flag.__class__ is HypothesisFlag else HypothesisFlag(flag)) in self.flags

    # -- per-frame decision ---------------------------------------------------------
    def server_band(self, symbol: FrameSymbol, scale: LevelScale) -> int:
        """0 zero, 1 below -70 dBFS, 2 below -56 dBFS, 3 below the speech edge (-40 dBFS
        at threshold 0.5), 4 at or above it. At a threshold whose speech edge lies under
        -56 dBFS (below 0.35), band 3 is empty and band 4 starts at the speech edge."""
        level = symbol.level
        if level == 0:
            return 0
        trace, near_silent, speech = _band_levels(scale)
        if level >= speech:
            return 4
        return 3 if level >= near_silent else 2 if level >= trace else 1

    def server_view(self, symbol: FrameSymbol, scale: LevelScale) -> tuple[int, bool]:
        """What of a symbol's level this VAD can see: its server band, and whether it
        reaches the dead band (the explorer merges symbols alike in both; at threshold 0.5
        the second follows from the first)."""
        return self.server_band(symbol, scale), symbol.level >= _dead_band_level(scale)

    def decisions(self, symbol: FrameSymbol, scale: LevelScale) -> tuple:
        """Everything the server reads of a symbol: its band, and how `classify` takes it
        in silence and in speech over every floor band (the floor's `next_floor` reads
        only those two). Symbols alike in this are alike to every server guard: the
        explorer merges them."""
        return (self.server_band(symbol, scale),
                tuple(self.classify(symbol, scale, in_speech, floor_band)
                      for in_speech in (False, True) for floor_band in range(5)))

    def kind_from_level(self, scale: LevelScale) -> int:
        """The lowest level at which a frame's kind can change what this VAD decides: below
        it every kind is classified alike (so the simulator need not judge it). Speech must
        reach -40 dBFS; under `deadband` a non-stationary frame from -56 dBFS holds speech;
        under `floor-adapt` speech never moves the floor and counts from one band above it,
        which can be as low as -70 dBFS (the edges move with the threshold)."""
        trace, _, speech = _band_levels(scale)
        if self.engine is not None:  # the engine judges the audio itself
            return scale.count
        if self.has(HypothesisFlag.FLOOR_ADAPT):
            return min(trace, speech)
        if self.has(HypothesisFlag.DEADBAND):
            return min(_dead_band_level(scale), speech)
        return speech

    def speech_like(self, symbol: FrameSymbol) -> bool:
        return symbol.kind is Kind.SPEECH or (
            symbol.kind is Kind.TRANSIENT and self.has(HypothesisFlag.NOISE_AS_SPEECH)
        )

    def kind_class(self, kind: Kind) -> str:
        """What of a frame's kind this hypothesis set can see."""
        if kind is Kind.SPEECH or (kind is Kind.TRANSIENT
                                   and self.has(HypothesisFlag.NOISE_AS_SPEECH)):
            return "speech"
        if kind is Kind.TRANSIENT and self.has(HypothesisFlag.DEADBAND):
            return "click"
        return "noise"

    def classify(
        self, symbol: FrameSymbol, scale: LevelScale, in_speech: bool, floor_band: int
    ) -> FrameClass:
        band = self.server_band(symbol, scale)
        if band == 0 and self.has(HypothesisFlag.ZERO_SKIP):
            return FrameClass.HOLD
        if symbol.detection is not None:  # a detector engine's verdict against threshold
            if symbol.detection is Detection.SPEECH:
                return FrameClass.SPEECH
            if in_speech and self.has(HypothesisFlag.DEADBAND) and symbol.detection is Detection.DEAD_BAND:
                return FrameClass.HOLD
            return FrameClass.SILENCE
        if self.speech_like(symbol):
            # an adaptive floor raises the bar for quiet speech, never above the base
            # edge: no real detector is deaf to speech at or above -40 dBFS
            edge = min(floor_band + 1, 4) if self.has(HypothesisFlag.FLOOR_ADAPT) else 4
            if band >= max(edge, 2):
                return FrameClass.SPEECH
        if in_speech and self.has(HypothesisFlag.DEADBAND) \
                and symbol.level >= _dead_band_level(scale) and symbol.kind is not Kind.STATIONARY:
            return FrameClass.HOLD
        return FrameClass.SILENCE

    def next_floor(self, symbol: FrameSymbol, scale: LevelScale, frame_class: FrameClass,
                   floor: tuple[int, int, int, int, int], duration_ms: int
                   ) -> tuple[int, int, int, int, int]:
        """(floor_band, target_band, rise_ms, fall_ms, fall_band) after `duration_ms` of
        this symbol.

        Only `floor-adapt` moves the floor. It falls to quieter non-speech audio that lasts
        FLOOR_FALL_MS (`fall_band`: the band of the latest such audio, where it falls to),
        climbs toward louder non-speech audio (`target_band`) one band per FLOOR_RISE_MS,
        and neither speech nor exact zeros move it.
        """
        floor_band, target, rise_ms, fall_ms, fall_band = floor
        if not self.has(HypothesisFlag.FLOOR_ADAPT):
            return floor
        band = self.server_band(symbol, scale)
        if band == 0 or frame_class is FrameClass.SPEECH:
            return floor
        if band < floor_band:
            fall_ms += duration_ms
            if fall_ms >= FLOOR_FALL_MS:
                return band, 0, 0, 0, 0
            return floor_band, target, rise_ms, fall_ms, band
        if band == floor_band:
            return floor_band, 0, 0, 0, 0
        target = band
        rise_ms += duration_ms
        while rise_ms >= FLOOR_RISE_MS and floor_band < target:
            floor_band += 1
            rise_ms -= FLOOR_RISE_MS
        return ((floor_band, 0, 0, 0, 0) if floor_band >= target
                else (floor_band, target, rise_ms, 0, 0))


INITIAL_FLOOR_BAND = 2


@lru_cache(maxsize=None)
def _band_levels(scale: LevelScale) -> tuple[int, int, int]:
    """The levels at which the server bands 2, 3 and 4 begin."""
    return tuple(scale.threshold_level(edge) for edge in ("trace", "near_silent",
                                                          "server_speech"))


@lru_cache(maxsize=None)
def _dead_band_level(scale: LevelScale) -> int:
    """The lowest level the `deadband` hypothesis holds speech at: the dead band's own edge
    when the scale has one (a threshold other than 0.5), else the near-silent edge."""
    names = {name for name, _ in scale.edges}
    return scale.threshold_level("dead_band" if "dead_band" in names else "near_silent")
