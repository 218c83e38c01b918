"""Faults `vadlock serve` injects on demand, named as the review and the reports name them.

A spec is `NAME[:KEY=VALUE[,KEY=VALUE...]]`. A *turn* is a `response.done` the session
has sent (whatever its status); `after=N` (default 0) lets N turns pass first, and a fault
takes effect at the next input or clock step after that (never inside a batch of events,
so the log stays a sequence the model could have produced).

- `stall[:after=N]` (reported): the server sends nothing more; the socket stays
  open and input is still read and logged but not acted on (openai-dotnet#879,
  openai-realtime-console#62; the field report's O4/O5). Removing it resumes the session;
  the audio received meanwhile was never heard (the server's audio timeline skips it).
- `fail-response[:after=N][,count=K]` (documented status; reported right after a commit,
  twilio-samples speech-assistant node#37): the next K responses (0: all) end right after
  `response.created` with `response.done` status `failed` and `status_details.error`
  (`server_error` / `vadlock_injected_failure`: the real code is not known).
- `incomplete-response[:after=N][,count=K][,reason=R]` (the status and both reasons are
  documented: SDK `realtime_response_status.py`): the next K responses (0: all) are cut
  once the batch holding their first audio delta is out and end with `response.done` status `incomplete`,
  `status_details.reason` R: `max_output_tokens` (default) or `content_filter`.
- `expire[:after=N][,at_s=S]` (the 60-minute limit is documented; the code and message are
  reported in third-party captures; closing the socket afterwards is speculative): the
  `error` `session_expired`, then the server closes the socket.
- `latency:ms=M` and `jitter:ms=J` (network behaviour; the values are the user's): every
  server event leaves M ms + uniform[0, J] ms later, order kept, as on one WebSocket.
- `drop[:after=N]` (reported: community.openai.com "Realtime Audio API connection drops
  after 20-30 seconds"): the TCP connection is cut with no close frame.
- a server VAD hypothesis name (`zero-skip`, `deadband`, ...): added to `--server` for
  sessions that start afterwards (a running session keeps the hypotheses it began with).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from vadlock.model.hypotheses import HYPOTHESES

SESSION_FAULTS = ("stall", "fail-response", "incomplete-response", "expire", "latency",
                  "jitter", "drop")
INCOMPLETE_REASONS = ("max_output_tokens", "content_filter")
_KEYS = {"stall": ("after",), "fail-response": ("after", "count"),
         "incomplete-response": ("after", "count", "reason"),
         "expire": ("after", "at_s"), "latency": ("ms",), "jitter": ("ms",),
         "drop": ("after",)}


class FaultError(ValueError):
    """A fault spec that cannot be read (one line, names the spec)."""


@dataclass(frozen=True)
class Fault:
    name: str
    after: int = 0  # turns that pass before it applies
    count: int = 1  # fail-response, incomplete-response: how many responses (0: all)
    reason: str = "max_output_tokens"  # incomplete-response: or content_filter
    at_s: float | None = None  # expire: also at this session time
    ms: int = 0  # latency / jitter

    @property
    def spec(self) -> str:
        defaults = Fault(self.name)
        args = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)[1:]
                if f.name in _KEYS.get(self.name, ()) and
                getattr(self, f.name) != getattr(defaults, f.name)]
        return self.name + (":" + ",".join(args) if args else "")

    @property
    def is_hypothesis(self) -> bool:
        return self.name in HYPOTHESES


def parse_fault(text: str) -> Fault:
    name, _, rest = text.strip().partition(":")
    if name in HYPOTHESES:
        if rest:
            raise FaultError(f"fault {text!r}: a server hypothesis takes no arguments")
        return Fault(name)
    if name not in _KEYS:
        raise FaultError(f"fault {text!r}: unknown name {name!r}; known: "
                         + ", ".join((*SESSION_FAULTS, *HYPOTHESES)))
    values: dict = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or key not in _KEYS[name]:
            raise FaultError(f"fault {text!r}: {name} takes "
                             + ", ".join(f"{k}=N" if k != "reason" else
                                         f"reason={'|'.join(INCOMPLETE_REASONS)}"
                                         for k in _KEYS[name]))
        if key == "reason":
            if value not in INCOMPLETE_REASONS:
                raise FaultError(f"fault {text!r}: reason must be one of "
                                 f"{', '.join(INCOMPLETE_REASONS)}, got {value!r}")
            values[key] = value
            continue
        try:
            number = float(value) if key == "at_s" else int(value)
        except ValueError:
            raise FaultError(f"fault {text!r}: {key} must be a number, got {value!r}") from None
        if number < 0:
            raise FaultError(f"fault {text!r}: {key} must be >= 0")
        values[key] = number
    if name in ("latency", "jitter") and "ms" not in values:
        raise FaultError(f"fault {text!r}: {name} needs ms=N")
    return Fault(name, **values)


class FaultBoard:
    """The faults in force, shared by every session and changed while the server runs."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self.faults: list[Fault] = list(faults or [])

    def set(self, faults: list[Fault]) -> None:
        self.faults = list(faults)

    def add(self, fault: Fault) -> None:
        self.faults = [f for f in self.faults if f.name != fault.name] + [fault]

    def remove(self, name: str) -> None:
        self.faults = [f for f in self.faults if f.name != name]

    def get(self, name: str) -> Fault | None:
        for fault in self.faults:
            if fault.name == name:
                return fault
        return None

    def hypotheses(self) -> list[str]:
        return [f.name for f in self.faults if f.is_hypothesis]

    def specs(self) -> list[str]:
        return [f.spec for f in self.faults]
