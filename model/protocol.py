"""The protocol vocabulary: GA Realtime API events as plain wire dictionaries.

Constructors here build events in the exact JSON shape of `openai.types.realtime`
(checked by tests against the SDK's pydantic types). Audio is never carried as samples
inside the model: an event that holds audio carries an `AudioPayload` placeholder, which
the simulator renders to base64 pcm16 and the explorer leaves symbolic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SAMPLE_RATE_HZ = 24_000
MIN_COMMIT_MS = 100
# progress: the client receiving either shows that turn detection is alive. A freeze is
# their absence while the user speaks (the `recovery` property, the explorer's freeze
# states and the diagnosis all use this one definition)
PROGRESS_TYPES = ("input_audio_buffer.speech_started", "response.done")

# Error codes the model can produce (reference/realtime-protocol.md §1.3).
ALREADY_ACTIVE = "conversation_already_has_active_response"
COMMIT_EMPTY = "input_audio_buffer_commit_empty"
CANCEL_NOT_ACTIVE = "response_cancel_not_active"
TRUNCATE_TOO_LONG = "invalid_value"

CLIENT_ERROR_CODES = (ALREADY_ACTIVE, COMMIT_EMPTY, CANCEL_NOT_ACTIVE, TRUNCATE_TOO_LONG)


@dataclass(frozen=True)
class AudioPayload:
    """Audio to be rendered on the wire: `duration_ms` of a named source.

    `source` is "mic" (a captured chunk; `mode` says raw, zeros or comfort noise),
    or "assistant" (response audio; `offset_ms` into that response's utterance).
    `tag` names which captured chunk it is: the simulator's chunk start time, or the
    explorer's frame symbol (a pre-roll gate sends chunks some time after capture).
    """

    source: str
    duration_ms: int
    mode: str = "raw"
    offset_ms: int = 0
    response_index: int = 0
    tag: object = field(default=None, compare=False)


# -- client events -----------------------------------------------------------------
def session_update(turn_detection: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": SAMPLE_RATE_HZ},
                    "turn_detection": turn_detection,
                },
                "output": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE_HZ}},
            },
        },
    }


def append(payload: AudioPayload) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": payload}


def commit() -> dict[str, Any]:
    return {"type": "input_audio_buffer.commit"}


def clear() -> dict[str, Any]:
    return {"type": "input_audio_buffer.clear"}


def response_create() -> dict[str, Any]:
    return {"type": "response.create"}


def response_cancel() -> dict[str, Any]:
    return {"type": "response.cancel"}


def truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": int(audio_end_ms),
    }


def item_create(role: str, text: str) -> dict[str, Any]:
    """A text message for the conversation (a reconnecting client replays its history)."""
    part = "input_text" if role == "user" else "output_text"
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": role, "content": [{"type": part, "text": text}]}}


def output_audio_buffer_clear() -> dict[str, Any]:
    return {"type": "output_audio_buffer.clear"}


# -- server events (event_id is stamped by the server session) ---------------------
def turn_detection_config(
    threshold: float = 0.5,
    prefix_padding_ms: int = 300,
    silence_duration_ms: int = 500,
    idle_timeout_ms: int | None = None,
    create_response: bool = True,
    interrupt_response: bool = True,
) -> dict[str, Any]:
    return {
        "type": "server_vad",
        "threshold": threshold,
        "prefix_padding_ms": prefix_padding_ms,
        "silence_duration_ms": silence_duration_ms,
        "idle_timeout_ms": idle_timeout_ms,
        "create_response": create_response,
        "interrupt_response": interrupt_response,
    }


def session_object(session_id: str, turn_detection: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "realtime",
        "id": session_id,
        "object": "realtime.session",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": SAMPLE_RATE_HZ},
                "turn_detection": turn_detection,
            },
            "output": {"format": {"type": "audio/pcm", "rate": SAMPLE_RATE_HZ}, "voice": "alloy"},
        },
    }


def user_item(item_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": status,
        "content": [{"type": "input_audio", "transcript": None}],
    }


def assistant_item(item_id: str, status: str, transcript: str = "") -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_audio", "transcript": transcript}],
    }


def response_object(
    response_id: str, status: str, output: list[dict[str, Any]], reason: str | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "output": output,
        "conversation_id": "conv_vadlock",
        "output_modalities": ["audio"],
    }
    if reason is not None:
        obj["status_details"] = {"type": status, "reason": reason}
    return obj


def error(code: str, message: str, client_event_id: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": message}
    if client_event_id is not None:
        err["event_id"] = client_event_id
    return {"type": "error", "error": err}
