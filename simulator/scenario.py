"""Scenarios: the environment's timeline, as JSON.

A scenario says what happens around the client: user utterances, keyboard typing, room
noise, the echo of assistant playback, capture faults (and the application switches that
cause them), network latency, and how long each assistant response is. Loading validates
every field and fails with one line naming the bad one (`ScenarioError`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from vadlock.model.client.capture import ATTENUATION_DB, FAULTS

SCHEMA_VERSION = 1


class ScenarioError(ValueError):
    """A scenario file or value is invalid; the message names the field."""


@dataclass(frozen=True)
class Utterance:
    start_ms: int
    duration_ms: int
    level_dbfs: float = -22.0  # active-speech RMS; -22 dBFS is RMS 0.08


@dataclass(frozen=True)
class Typing:
    start_ms: int
    duration_ms: int
    keys_per_s: float = 6.0
    peak_dbfs: float = -6.0


@dataclass(frozen=True)
class CaptureFault:
    """A capture fault; `duration_ms` null means until the end. `cause`: fault | app_switch.
    `survives_reacquire`: the fault's cause outlives the client's own re-acquisition (the OS
    input volume stays down, another application keeps the microphone): a re-acquired
    capture comes back with the same fault while it lasts."""

    start_ms: int
    kind: str
    duration_ms: int | None = None
    cause: str = "fault"
    survives_reacquire: bool = False


SERVER_FAULT_KINDS = ("stall", "fail-response", "incomplete-response", "expire")
# the kinds `vadlock search` draws for the review's `server` fault class: an incomplete
# response ends with a response.done like any other (the client sees progress), so it is
# shown by its own test and left out of the search (the review stays as it was)
SEARCHED_SERVER_FAULT_KINDS = ("stall", "fail-response", "expire")
INCOMPLETE_REASONS = ("max_output_tokens", "content_filter")


@dataclass(frozen=True)
class ServerFault:
    """A server fault (the `server` fault class; `simulator.server_faults`): on the first
    connection, once `after_turns` responses have ended, `stall` (nothing more reaches the
    client; the socket stays open), `fail-response` (one response ends `failed`),
    `incomplete-response` (one response is cut short after its first audio and ends
    `incomplete`, reason `max_output_tokens`) or `expire` (the `session_expired` error, then nothing). A
    reconnect is a healthy session."""

    kind: str
    after_turns: int = 0


SEGMENT_KINDS = ("speech", "typing", "noise")


@dataclass(frozen=True)
class Segment:
    """Explicit acoustic content (what the explorer's counterexamples turn into):
    `speech` (RMS level), `typing` (click peak level) or `noise` (pink noise RMS level)."""

    start_ms: int
    duration_ms: int
    kind: str
    level_dbfs: float


@dataclass(frozen=True)
class LatencySpike:
    start_ms: int
    duration_ms: int
    extra_ms: int


@dataclass(frozen=True)
class ConnectionDrop:
    """The connection current at `start_ms` dies without a close frame (the peer or a
    middlebox vanished): what is in flight either way is lost, and so is everything sent
    on it afterwards. The client is not told (a WebSocket stays OPEN until TCP gives up,
    minutes later); only its own reconnect opens a working connection."""

    start_ms: int


@dataclass(frozen=True)
class MediaLoss:
    """WebRTC only: the audio chunks sent on the media track within the window are lost
    (the receiver conceals them as comfort noise). Events on the data channel are not."""

    start_ms: int
    duration_ms: int


@dataclass(frozen=True)
class Network:
    uplink_latency_ms: int = 40
    downlink_latency_ms: int = 40
    uplink_jitter_ms: int = 10
    downlink_jitter_ms: int = 10
    spikes: tuple[LatencySpike, ...] = ()
    drops: tuple[ConnectionDrop, ...] = ()
    media_losses: tuple[MediaLoss, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_ms: int
    utterances: tuple[Utterance, ...] = ()
    typing: tuple[Typing, ...] = ()
    capture_faults: tuple[CaptureFault, ...] = ()
    room_noise_dbfs: float = -50.0
    echo_gain_db: float = -30.0
    response_audio_ms: tuple[int, ...] = (4000,)
    network: Network = field(default_factory=Network)
    segments: tuple[Segment, ...] = ()
    description: str = ""
    seed: int | None = None  # the audio seed it was found with (replay uses it by default)
    attenuation_db: float = ATTENUATION_DB  # the gain of an "attenuated" capture
    server_faults: tuple[ServerFault, ...] = ()


    def response_ms(self, index: int) -> int:
        return self.response_audio_ms[index % len(self.response_audio_ms)]

    # -- JSON ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"vadlock_scenario": SCHEMA_VERSION, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def from_dict(cls, data: Any) -> "Scenario":
        if not isinstance(data, dict):
            raise ScenarioError("scenario: expected a JSON object")
        data = {k: v for k, v in data.items() if k != "vadlock_scenario"}
        scenario = _build(cls, data, "scenario")
        _check_semantics(scenario)
        return scenario

    @classmethod
    def load(cls, path: str | Path) -> "Scenario":
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{path}: cannot read scenario ({exc.__class__.__name__})")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})")
        try:
            return cls.from_dict(data)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: {exc}") from None


_NESTED = {"utterances": Utterance, "typing": Typing, "capture_faults": CaptureFault,
           "spikes": LatencySpike, "drops": ConnectionDrop, "media_losses": MediaLoss,
           "segments": Segment, "server_faults": ServerFault}


def _build(cls, data: dict[str, Any], where: str):
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ScenarioError(f"{where}: unknown field {key!r}")
    kwargs = {}
    for name, f in known.items():
        path = f"{where}.{name}"
        if name not in data:
            if f.default is f.default_factory is __import__("dataclasses").MISSING:
                raise ScenarioError(f"{path}: missing")
            continue
        kwargs[name] = _value(name, f.type, data[name], path)
    return cls(**kwargs)


def _value(name: str, type_text: str, value: Any, path: str):
    if name in _NESTED:
        if not isinstance(value, list):
            raise ScenarioError(f"{path}: expected a list")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise ScenarioError(f"{path}[{i}]: expected an object")
            out.append(_build(_NESTED[name], item, f"{path}[{i}]"))
        return tuple(out)
    if name == "network":
        if not isinstance(value, dict):
            raise ScenarioError(f"{path}: expected an object")
        return _build(Network, value, path)
    if name == "response_audio_ms":
        if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
            raise ScenarioError(f"{path}: expected a non-empty list of integers")
        return tuple(int(v) for v in value)
    if type_text.startswith("int"):
        if value is None and "None" in type_text:
            return None
        if not _is_int(value):
            raise ScenarioError(f"{path}: expected an integer, got {value!r}")
        return int(value)
    if type_text.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not math.isfinite(value):
            raise ScenarioError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if type_text.startswith("bool"):
        if not isinstance(value, bool):
            raise ScenarioError(f"{path}: expected true or false, got {value!r}")
        return value
    if type_text.startswith("str"):
        if not isinstance(value, str):
            raise ScenarioError(f"{path}: expected a string, got {value!r}")
        return value
    raise ScenarioError(f"{path}: unsupported field")  # pragma: no cover


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MAX_DURATION_MS = 4 * 3600 * 1000


def _check_semantics(s: Scenario) -> None:
    def need(ok: bool, path: str, msg: str) -> None:
        if not ok:
            raise ScenarioError(f"scenario.{path}: {msg}")

    need(0 < s.duration_ms <= MAX_DURATION_MS, "duration_ms", "must be in 1..14400000")
    for i, u in enumerate(s.utterances):
        need(u.start_ms >= 0, f"utterances[{i}].start_ms", "must be >= 0")
        need(u.duration_ms > 0, f"utterances[{i}].duration_ms", "must be > 0")
        need(-90 <= u.level_dbfs <= 0, f"utterances[{i}].level_dbfs", "must be in -90..0")
    for i, t in enumerate(s.typing):
        need(t.start_ms >= 0, f"typing[{i}].start_ms", "must be >= 0")
        need(t.duration_ms > 0, f"typing[{i}].duration_ms", "must be > 0")
        need(0 < t.keys_per_s <= 30, f"typing[{i}].keys_per_s", "must be in (0, 30]")
        need(-90 <= t.peak_dbfs <= 0, f"typing[{i}].peak_dbfs", "must be in -90..0")
    for i, c in enumerate(s.capture_faults):
        need(c.start_ms >= 0, f"capture_faults[{i}].start_ms", "must be >= 0")
        need(c.kind in FAULTS, f"capture_faults[{i}].kind", f"must be one of {', '.join(FAULTS)}")
        need(c.duration_ms is None or c.duration_ms > 0, f"capture_faults[{i}].duration_ms",
             "must be > 0 or null")
        need(c.cause in ("fault", "app_switch"), f"capture_faults[{i}].cause",
             "must be fault or app_switch")
    need(-120 <= s.attenuation_db <= 0, "attenuation_db", "must be in -120..0")
    for i, f in enumerate(s.server_faults):
        need(f.kind in SERVER_FAULT_KINDS, f"server_faults[{i}].kind",
             f"must be one of {', '.join(SERVER_FAULT_KINDS)}")
        need(f.after_turns >= 0, f"server_faults[{i}].after_turns", "must be >= 0")
    for i, seg in enumerate(s.segments):
        need(seg.start_ms >= 0, f"segments[{i}].start_ms", "must be >= 0")
        need(seg.duration_ms > 0, f"segments[{i}].duration_ms", "must be > 0")
        need(seg.kind in SEGMENT_KINDS, f"segments[{i}].kind",
             f"must be one of {', '.join(SEGMENT_KINDS)}")
        need(-120 <= seg.level_dbfs <= 0, f"segments[{i}].level_dbfs", "must be in -120..0")
    need(-120 <= s.room_noise_dbfs <= 0, "room_noise_dbfs", "must be in -120..0")
    need(-120 <= s.echo_gain_db <= 0, "echo_gain_db", "must be in -120..0")
    need(all(0 < r <= 120_000 for r in s.response_audio_ms), "response_audio_ms",
         "each must be in 1..120000")
    n = s.network
    need(0 <= n.uplink_latency_ms <= 60_000, "network.uplink_latency_ms", "must be in 0..60000")
    need(0 <= n.downlink_latency_ms <= 60_000, "network.downlink_latency_ms",
         "must be in 0..60000")
    need(0 <= n.uplink_jitter_ms <= 10_000, "network.uplink_jitter_ms", "must be in 0..10000")
    need(0 <= n.downlink_jitter_ms <= 10_000, "network.downlink_jitter_ms",
         "must be in 0..10000")
    for i, sp in enumerate(n.spikes):
        need(sp.start_ms >= 0 and sp.duration_ms > 0 and 0 <= sp.extra_ms <= 600_000,
             f"network.spikes[{i}]", "needs start_ms >= 0, duration_ms > 0, extra_ms in 0..600000")
    for i, drop in enumerate(n.drops):
        need(drop.start_ms >= 0, f"network.drops[{i}].start_ms", "must be >= 0")
    for i, loss in enumerate(n.media_losses):
        need(loss.start_ms >= 0 and loss.duration_ms > 0, f"network.media_losses[{i}]",
             "needs start_ms >= 0, duration_ms > 0")
