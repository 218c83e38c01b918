"""Server faults at the edge of the model's server: what the client receives when the
server misbehaves as users and the docs report (the `server` fault class).

The model's server (`model/server`) runs unchanged; a `ServerFaultFilter` sits between it
and the client's side of the first connection. A reconnect starts a healthy session: the
field report's "only a full restart recovers" (whether a new session can stall again is
not known; `vadlock serve` can inject that, its faults apply to every session).

- `stall` (reported: openai-dotnet#879, openai-realtime-console#62; the field report's
  O4/O5): once `after_turns` responses have ended, nothing more reaches the client; the
  socket stays open, no error.
- `fail-response` (the status is documented; a failed response right after a commit is
  reported, twilio-samples speech-assistant node#37): one response is cancelled on
  the server right after `response.created`, and its `response.done` says `failed`
  (`status_details.error` `server_error` / `vadlock_injected_failure`: the real code is not
  known).
- `incomplete-response` (the status and its reasons `max_output_tokens` /
  `content_filter` are documented: SDK `realtime_response_status.py`): one response is
  cut short on the server once its first audio has gone out (over WebRTC: once its
  playback started), and its `response.done` says `incomplete`, reason
  `max_output_tokens` (a voice reply cut by the token limit).
- `expire` (the 60-minute limit and its `session_expired` error are documented/reported;
  that nothing follows it is assumed): the `error` event, then nothing.

`vadlock serve` injects the same faults on real sockets (`simulator/serve/faults.py`) and
rewrites a failed or incomplete response with the same functions (`failed_response_done`,
`incomplete_response_done`).
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

from vadlock.model import protocol
from vadlock.model.server.response import ResponseState
from vadlock.model.server.session_limit import SESSION_EXPIRED_MESSAGE
from vadlock.simulator.scenario import ServerFault


def failed_response_done(event: dict[str, Any]) -> dict[str, Any]:
    """A `response.done` turned into the API's failed response."""
    event = copy.deepcopy(event)
    response = event["response"]
    response["status"] = "failed"
    response["status_details"] = {"type": "failed", "error": {
        "type": "server_error", "code": "vadlock_injected_failure"}}
    return event


def incomplete_response_done(event: dict[str, Any], reason: str = "max_output_tokens"
                             ) -> dict[str, Any]:
    """A `response.done` (of a response the server cut short) turned into the API's
    incomplete response: status `incomplete`, `status_details.reason` `max_output_tokens`
    or `content_filter`; its output item is `incomplete` already."""
    event = copy.deepcopy(event)
    response = event["response"]
    response["status"] = "incomplete"
    response["status_details"] = {"type": "incomplete", "reason": reason}
    return event


# the events at which an incomplete-response fault cuts its response: its first audio
# (WebSocket) or the start of its playback (WebRTC, where audio goes on the media track)
_FIRST_AUDIO = ("response.output_audio.delta", "output_audio_buffer.started")


class ServerFaultFilter:
    """The faults of one scenario, applied to each connection's server events in turn."""

    def __init__(self, faults: Iterable[ServerFault] = ()) -> None:
        self.faults = tuple(faults)
        self.new_connection()

    def new_connection(self) -> None:
        """A connection starts: the first one meets the faults, later ones do not."""
        self.connections = getattr(self, "connections", 0) + 1
        self.turns = 0  # response.done events the client has been sent on this connection
        self.silent = False  # stalled or expired: nothing more reaches the client
        self._failing: set[str] = set()  # ids of responses being failed
        self._failed: set[ServerFault] = set()  # fail-response faults spent (one response each)
        self._cutting: set[str] = set()  # ids of responses being cut short (incomplete)
        self._added = 0  # events the filter made itself

    def __bool__(self) -> bool:
        return bool(self.faults)

    def _due(self, kind: str) -> ServerFault | None:
        return next((f for f in self.faults if f.kind == kind and self.turns >= f.after_turns),
                    None)

    def filter(self, server, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """What of the server's `events` reaches the client. `server` is the connection's
        `ServerSession`: a failing response is cancelled on it, so its state stays what the
        client is told."""
        if self.connections > 1:
            return events
        out: list[dict[str, Any]] = []
        pending = list(events)
        while pending:
            if self.silent:
                return out
            if self._due("stall"):
                self.silent = True
                return out
            if self._due("expire"):
                self.silent = True
                self._added += 1
                out.append({"type": "error", "event_id": f"event_fault_{self._added:03d}",
                            **protocol.error("session_expired", SESSION_EXPIRED_MESSAGE)})
                return out
            event = pending.pop(0)
            kind = event["type"]
            fail = self._due("fail-response")
            if kind == "response.created" and fail is not None and fail not in self._failed:
                self._failed.add(fail)
                self._failing.add(event["response"]["id"])
                out.append(event)
                pending = server.receive({"type": "response.cancel"}) + pending
                continue
            cut = self._due("incomplete-response")
            if kind in _FIRST_AUDIO and cut is not None and cut not in self._failed \
                    and server.response.state == ResponseState.IN_PROGRESS:
                self._failed.add(cut)
                self._cutting.add(event["response_id"])
                out.append(event)
                pending = server.receive({"type": "response.cancel"}) + pending
                continue
            if kind == "response.done":
                self.turns += 1
                if event["response"]["id"] in self._failing:
                    self._failing.discard(event["response"]["id"])
                    event = failed_response_done(event)
                elif event["response"]["id"] in self._cutting:
                    self._cutting.discard(event["response"]["id"])
                    event = incomplete_response_done(event)
            out.append(event)
        return out
