"""The properties: each a function over a trace returning its violations.

Every bound is a named parameter (`Bounds`). A violation carries the property's name, the
time window and one sentence that explains it. The *freeze* verdict of search and of
exploration is the `recovery` property: once faults stop happening, every window of
`recovery_window_ms` in which the user speaks clearly at least twice must contain progress
(the client receiving `speech_started` or `response.done`). A capture fault that is still
in force counts as part of the session, not as an excuse: a stolen microphone is exactly
the field report's freeze unless the client notices and recovers.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Callable

from vadlock.model import protocol
from vadlock.model.client.beliefs import BeliefState
from vadlock.model.client.capture import CaptureState
from vadlock.model.protocol import PROGRESS_TYPES
from vadlock.model.server.response import ResponseState
from vadlock.model.server.vad import VadState
from vadlock.simulator.trace import (C2S, CLEAR_MIN_DBFS, CLEAR_MIN_MS, HEARD_EARLY_MS,
                                     HEARD_WITHIN_MS, S2C, Trace)


@dataclass(frozen=True)
class Bounds:
    heard_within_ms: int = HEARD_WITHIN_MS
    heard_early_ms: int = HEARD_EARLY_MS
    answered_within_ms: int = 15_000
    silent_window_ms: int = 10_000
    silent_min_utterances: int = 2
    recovery_window_ms: int = 45_000
    recovery_min_utterances: int = 2
    beliefs_settle_ms: int = 3_000
    lost_audio_zeroed_fraction: float = 0.5
    committed_within_ms: int = 10_000
    clear_min_ms: int = CLEAR_MIN_MS
    clear_min_dbfs: float = CLEAR_MIN_DBFS


DEFAULT_BOUNDS = Bounds()


@dataclass(frozen=True)
class Violation:
    property: str
    start_ms: int
    end_ms: int
    explanation: str

    def to_dict(self) -> dict:
        return {"property": self.property, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "explanation": self.explanation}


# -- helpers ---------------------------------------------------------------------------
def _received(trace: Trace, *types: str) -> list[int]:
    return [r.t_ms for r in trace.wire if r.direction == S2C and (not types or r.type in types)]


def _capture_at(trace: Trace, t_ms: int) -> str:
    return trace.state_at("capture", t_ms) or CaptureState.LIVE


def clear_utterances(trace: Trace, b: Bounds) -> list:
    """Utterances a person would call clear speech, whatever the capture is doing."""
    return [u for u in trace.utterances
            if u.duration_ms >= b.clear_min_ms and u.level_dbfs >= b.clear_min_dbfs]


def healthy_utterances(trace: Trace, b: Bounds) -> list:
    """Clear utterances made while the client's capture was live."""
    return [u for u in clear_utterances(trace, b)
            if _capture_at(trace, u.start_ms) == CaptureState.LIVE]


def _last_fault_event_ms(trace: Trace) -> int:
    last = 0
    for f in trace.faults:
        last = max(last, f[0])
    return last


# -- the properties --------------------------------------------------------------------
def heard(trace: Trace, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    started = _received(trace, "input_audio_buffer.speech_started")
    out = []
    for u in healthy_utterances(trace, b):
        lo = bisect_left(started, u.start_ms - b.heard_early_ms)
        if lo == len(started) or started[lo] > u.start_ms + b.heard_within_ms:
            out.append(Violation("heard", u.start_ms, u.start_ms + b.heard_within_ms,
                                 f"the utterance at {u.start_ms / 1000:.1f} s "
                                 f"({u.level_dbfs:.0f} dBFS, {u.duration_ms} ms, capture live) "
                                 f"got no speech_started within {b.heard_within_ms} ms"))
    return out


def answered(trace: Trace, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    done = _received(trace, "response.done")
    out = []
    for t in _received(trace, "input_audio_buffer.committed"):
        i = bisect_right(done, t)
        if t + b.answered_within_ms > trace.duration_ms:
            continue  # too close to the end to judge
        if i == len(done) or done[i] > t + b.answered_within_ms:
            out.append(Violation("answered", t, t + b.answered_within_ms,
                                 f"the user turn committed at {t / 1000:.1f} s got no "
                                 f"response.done within {b.answered_within_ms} ms"))
    return out


def no_silent_freeze(trace: Trace, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    events = _received(trace)
    notices = [t for t, _ in trace.notices]
    onsets = [u.start_ms for u in clear_utterances(trace, b)]
    edges = [0, *events, trace.duration_ms]
    out = []
    for start, end in zip(edges, edges[1:]):
        if end - start < b.silent_window_ms:
            continue
        spoken = [t for t in onsets if start < t <= end]
        noticed = any(start <= t <= end for t in notices)
        if len(spoken) >= b.silent_min_utterances and not noticed:
            out.append(Violation(
                "no-silent-freeze", start, end,
                f"no server event for {(end - start) / 1000:.1f} s "
                f"({start / 1000:.1f}-{end / 1000:.1f} s) while the user spoke "
                f"{len(spoken)} times and the client showed no notice"))
    return out


def recovery(trace: Trace, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    after = _last_fault_event_ms(trace)
    progress = _received(trace, *PROGRESS_TYPES)
    onsets = [u.start_ms for u in clear_utterances(trace, b) if u.start_ms >= after]
    out = []
    for i, first in enumerate(onsets):
        window_end = first + b.recovery_window_ms
        if window_end > trace.duration_ms:
            break
        spoken = [t for t in onsets[i:] if t < window_end]
        if len(spoken) < b.recovery_min_utterances:
            continue
        j = bisect_left(progress, first)
        if j == len(progress) or progress[j] > window_end:
            last = progress[j - 1] if j else None
            since = f"since {last / 1000:.1f} s" if last is not None else "at all"
            out.append(Violation(
                "recovery", first, window_end,
                f"from {first / 1000:.1f} s the user spoke clearly {len(spoken)} times in "
                f"{b.recovery_window_ms / 1000:.0f} s with no new fault, and the client got no "
                f"speech_started or response.done {since}: the session is frozen"))
            break
    return out


def protocol_ok(trace: Trace, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    out = []
    played: dict[str, int] = {}
    for r in trace.wire:
        if r.direction == S2C and r.type == "error":
            code = r.event["error"].get("code")
            if code in protocol.CLIENT_ERROR_CODES:
                out.append(Violation("protocol", r.t_ms, r.t_ms,
                                     f"the client caused server error {code!r} at "
                                     f"{r.t_ms / 1000:.1f} s"))
        if r.direction == S2C and r.type == "response.output_audio.delta":
            played[r.event["item_id"]] = played.get(r.event["item_id"], 0) + \
                len(r.event["delta"]) * 3 // 4 // 48
        if r.direction == C2S and r.type == "conversation.item.truncate":
            have = played.get(r.event["item_id"], 0)
            if r.event["audio_end_ms"] > have:
                out.append(Violation("protocol", r.t_ms, r.t_ms,
                                     f"truncate to {r.event['audio_end_ms']} ms exceeds the "
                                     f"{have} ms of audio received"))
    return out


# (server VAD, response) -> what the client should believe (otherwise: listening or awaiting)
_EXPECTED_BELIEF = {
    (VadState.SPEECH, ResponseState.IDLE): BeliefState.USER_SPEAKING,
    (VadState.SPEECH, ResponseState.IN_PROGRESS): BeliefState.USER_SPEAKING,
    (VadState.SILENCE, ResponseState.IN_PROGRESS): BeliefState.RESPONDING,
}


def _joint_runs(trace: Trace, machines: tuple[str, ...]) -> list[tuple[int, int, tuple]]:
    """(start_ms, end_ms, states) runs over which none of `machines` changes state."""
    changes = sorted({t for m in machines for t, _ in trace.state_changes(m)} | {0})
    ends = changes[1:] + [trace.duration_ms]
    return [(t, end, tuple(trace.state_at(m, t) for m in machines))
            for t, end in zip(changes, ends) if end > t]


def beliefs_agree(trace: Trace, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    disagree_since = None
    for start, end, (vad, response, belief) in _joint_runs(
            trace, ("server_vad", "response", "beliefs")):
        if belief is None:
            return []  # a trace without recorded states (read back from JSONL)
        expected = _EXPECTED_BELIEF.get((vad, response))
        agrees = belief == expected if expected else belief in (BeliefState.LISTENING,
                                                                BeliefState.AWAITING_RESPONSE)
        if agrees:
            disagree_since = None
            continue
        disagree_since = start if disagree_since is None else disagree_since
        if end - disagree_since > b.beliefs_settle_ms:
            t = disagree_since + b.beliefs_settle_ms
            return [Violation(
                "beliefs-agree", disagree_since, t,
                f"from {disagree_since / 1000:.1f} s the client believed {belief!r} while the "
                f"server was VAD {vad!r} / response {response!r} for over "
                f"{b.beliefs_settle_ms} ms")]
    return []


def no_lost_audio(trace: Trace, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    chunks = trace.chunks
    cleared = [r.t_ms for r in trace.wire if r.direction == S2C and
               r.type == "input_audio_buffer.cleared"]
    committed = _received(trace, "input_audio_buffer.committed")
    out = []
    for u in healthy_utterances(trace, b):
        end = u.start_ms + u.duration_ms
        sent = [chunks["sent"][i] for i, t in enumerate(chunks["t_ms"]) if u.start_ms <= t < end]
        if sent:
            zeroed = sum(1 for s in sent if s != "raw") / len(sent)
            if zeroed > b.lost_audio_zeroed_fraction:
                out.append(Violation("no-lost-audio", u.start_ms, end,
                                     f"{zeroed:.0%} of the utterance at {u.start_ms / 1000:.1f} s "
                                     f"was sent as zeros or noise by the gate"))
                continue
        j = bisect_left(committed, u.start_ms)
        commit_t = committed[j] if j < len(committed) else None
        k = bisect_left(cleared, u.start_ms)
        if k < len(cleared) and (commit_t is None or cleared[k] < commit_t):
            out.append(Violation("no-lost-audio", u.start_ms, cleared[k],
                                 f"the utterance at {u.start_ms / 1000:.1f} s was cleared away "
                                 f"at {cleared[k] / 1000:.1f} s before it was committed"))
            continue
        deadline = end + b.committed_within_ms
        if deadline <= trace.duration_ms and (commit_t is None or commit_t > deadline):
            out.append(Violation("no-lost-audio", u.start_ms, deadline,
                                 f"the utterance at {u.start_ms / 1000:.1f} s was not committed "
                                 f"within {b.committed_within_ms} ms of its end"))
    return out


PROPERTIES: dict[str, Callable[[Trace, Bounds], list[Violation]]] = {
    "heard": heard,
    "answered": answered,
    "no-silent-freeze": no_silent_freeze,
    "recovery": recovery,
    "protocol": protocol_ok,
    "beliefs-agree": beliefs_agree,
    "no-lost-audio": no_lost_audio,
}

FREEZE_PROPERTY = "recovery"


def check(trace: Trace, names=None, b: Bounds = DEFAULT_BOUNDS) -> list[Violation]:
    out = []
    for name in names or PROPERTIES:
        out += PROPERTIES[name](trace, b)
    return out
