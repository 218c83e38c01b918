"""Named scenarios. Each is a function of the session length, so any `--duration-s` works.

A turn is the user speaking (1.6-2.4 s) then the assistant answering (4 s of audio, which
starts about 1 s after the user stops and plays in real time); turns start every 10 s.
"""

from __future__ import annotations

from typing import Callable

from vadlock.model.client.capture import CaptureState
from vadlock.simulator.scenario import CaptureFault, Scenario, Typing, Utterance

TURN_PERIOD_MS = 10_000
FIRST_TURN_MS = 1_000
REPLY_STARTS_AFTER_ONSET_MS = 3_400  # onset + speech ~2 s + 0.5 s silence + ~0.9 s to audio


def _utterances(start_ms: int, end_ms: int, level_dbfs: float = -22.0) -> list[Utterance]:
    out = []
    for i, t in enumerate(range(start_ms, end_ms - 8_000, TURN_PERIOD_MS)):
        out.append(Utterance(t, 1_600 + 400 * (i % 3), level_dbfs))
    return out


def conversation(duration_ms: int = 60_000) -> Scenario:
    return Scenario(
        name="conversation", duration_ms=duration_ms,
        description="A normal conversation: a user turn every 10 s, a quiet room.",
        utterances=tuple(_utterances(FIRST_TURN_MS, duration_ms)))


def field_report(duration_ms: int = 120_000) -> Scenario:
    good = _utterances(FIRST_TURN_MS, 51_000 + 8_000)  # five good turns, 1 s .. 41 s
    typing_at = good[-1].start_ms + REPLY_STARTS_AFTER_ONSET_MS + 500
    switch_at = typing_at + 5_000
    later = _utterances(switch_at + 2_000, duration_ms, level_dbfs=-12.0)
    return Scenario(
        name="field-report", duration_ms=duration_ms,
        description="The field report's story: five good turns; keyboard typing during the "
        "fifth reply; then an application switch leaves the microphone attenuated (54 dB "
        "down, int16 peaks 41-96) and the user keeps speaking, louder.",
        utterances=tuple(good + later),
        typing=(Typing(typing_at, 3_000),),
        capture_faults=(CaptureFault(switch_at, CaptureState.ATTENUATED, None, "app_switch"),))


def typing_during_reply(duration_ms: int = 40_000) -> Scenario:
    utts = _utterances(FIRST_TURN_MS, duration_ms)
    typing = tuple(Typing(u.start_ms + REPLY_STARTS_AFTER_ONSET_MS + 500, 3_000)
                   for u in utts[1:3])
    return Scenario(
        name="typing-during-reply", duration_ms=duration_ms,
        description="Keyboard typing during the second and third assistant replies.",
        utterances=tuple(utts), typing=typing)


def app_switch(duration_ms: int = 60_000) -> Scenario:
    return Scenario(
        name="app-switch", duration_ms=duration_ms,
        description="An application switch at 25 s takes the microphone for 10 s (muted).",
        utterances=tuple(_utterances(FIRST_TURN_MS, duration_ms)),
        capture_faults=(CaptureFault(25_000, CaptureState.MUTED, 10_000, "app_switch"),))


PRESETS: dict[str, Callable[..., Scenario]] = {
    "conversation": conversation,
    "field-report": field_report,
    "typing-during-reply": typing_during_reply,
    "app-switch": app_switch,
}


class UnknownPreset(ValueError):
    pass


def preset(name: str, duration_ms: int | None = None) -> Scenario:
    try:
        build = PRESETS[name]
    except KeyError:
        raise UnknownPreset(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None
    return build() if duration_ms is None else build(duration_ms)
