"""The response lifecycle: one active response at a time.

`create` -> `in_progress`, emitting `response.created`, the output item, the
conversation item and the content part. The `response` timer counts wall time since
`response.created`: audio starts being generated `FIRST_AUDIO_DELAY_MS` after it, at
`GENERATION_SPEED` times real time, and each `DELTA_AUDIO_MS` of it that is ready goes out
(`deliver`) as a `response.output_audio.delta`; once all audio is out, `complete` emits
the `.done` sequence and `response.done` (`completed`). `cancel(reason)` ends it with
`response.done` `cancelled` (reason `turn_detected` from server VAD, `client_cancelled` from
`response.cancel`). `create` while one is active -> error
`conversation_already_has_active_response`; `cancel` with none -> error
`response_cancel_not_active`.
"""

from vadlock.model import protocol
from vadlock.model.machine import ProtocolMachine, Timer

FIRST_AUDIO_DELAY_MS = 300  # response.created -> audio starts being generated
GENERATION_SPEED = 4  # ms of audio generated per ms of wall time
DELTA_AUDIO_MS = 100  # audio per response.output_audio.delta (the last one may be shorter)
# what a real run takes, at most, for a default answer (4 s of audio) to be generated, and to
# play out: the waits of the answer's timers when the explorer's replay lets them run out
ANSWER_GENERATED_WITHIN_MS = 1_500
ANSWER_PLAYED_WITHIN_MS = 4_500


class ResponseState:
    """The states of `ResponseLifecycle`."""

    IDLE = "idle"
    IN_PROGRESS = "in_progress"


class ResponseLifecycle(ProtocolMachine):
    NAME = "response"
    STATES = (ResponseState.IDLE, ResponseState.IN_PROGRESS)
    INITIAL = ResponseState.IDLE
    TRANSITIONS = (
        {"trigger": "create", "source": ResponseState.IDLE, "dest": ResponseState.IN_PROGRESS,
         "after": "_created"},
        {"trigger": "create", "source": ResponseState.IN_PROGRESS, "dest": None,
         "after": "_already_active"},
        {"trigger": "deliver", "source": ResponseState.IN_PROGRESS, "dest": None,
         "after": "_deliver"},
        {"trigger": "complete", "source": ResponseState.IN_PROGRESS, "dest": ResponseState.IDLE,
         "after": "_completed"},
        {"trigger": "cancel", "source": ResponseState.IN_PROGRESS, "dest": ResponseState.IDLE,
         "after": "_cancelled"},
        {"trigger": "cancel", "source": ResponseState.IDLE, "dest": None, "after": "_not_active"},
    )
    DATA = ("generated_ms",)
    COUNTERS = ("generated_ms",)
    TIMERS = (Timer("response", "since_created_ms", "_next_delta_due_ms",
                    (ResponseState.IN_PROGRESS,), "deliver", due="_delta_ready", answer=True,
                    wait_ms=ANSWER_GENERATED_WITHIN_MS),)
    ABSTRACTED = ("total_ms", "response_id", "item_id", "index", "since_created_ms")

    # what the explorer's abstract response still has to generate: a little audio (its
    # length is abstracted away; the client only sees that some arrives)
    ABSTRACT_TOTAL_MS = 2
    TRIGGER_ARGS = {"cancel": ("reason",)}

    def __init__(self) -> None:
        self.generated_ms = 0
        self.total_ms = 0
        self.response_id = ""
        self.item_id = ""
        self.index = -1
        self.since_created_ms = 0
        super().__init__()

    def load_abstract_snapshot(self, snap: tuple) -> None:
        super().load_abstract_snapshot(snap)
        if self.state == ResponseState.IN_PROGRESS:
            self.total_ms = self.ABSTRACT_TOTAL_MS

    # -- inputs ------------------------------------------------------------------------
    def start(self, response_id: str, item_id: str, total_ms: int) -> None:
        if self.state == ResponseState.IDLE:
            self.response_id, self.item_id, self.total_ms = response_id, item_id, total_ms
            self.index += 1
        self.create()

    # -- the generation timer ----------------------------------------------------------
    def _ready_ms(self) -> int:
        """Audio generated so far (sent or not)."""
        generating_ms = max(0, self.since_created_ms - FIRST_AUDIO_DELAY_MS)
        return min(self.total_ms, generating_ms * GENERATION_SPEED)

    def _next_delta_ms(self) -> int:
        """How much audio must be ready for the next delta to go out."""
        return min(self.total_ms, self.generated_ms + DELTA_AUDIO_MS)

    def _next_delta_due_ms(self) -> int:
        """The time since `response.created` at which the next delta is ready."""
        return FIRST_AUDIO_DELAY_MS + -(-self._next_delta_ms() // GENERATION_SPEED)

    def _delta_ready(self) -> bool:
        return self._ready_ms() >= self._next_delta_ms()

    def _deliver(self, event) -> None:
        """The next delta's audio is ready: send it; complete when all audio is out."""
        made = self._next_delta_ms() - self.generated_ms
        if made > 0:
            self.emit(self._audio_event(
                "response.output_audio.delta",
                delta=protocol.AudioPayload("assistant", made, offset_ms=self.generated_ms,
                                            response_index=self.index)))
            self.generated_ms += made
        if self.generated_ms >= self.total_ms:
            self.complete()

    # -- side effects --------------------------------------------------------------------
    def _audio_event(self, kind: str, **fields) -> dict:
        return {"type": kind, "response_id": self.response_id, "item_id": self.item_id,
                "output_index": 0, "content_index": 0, **fields}

    def _part(self, transcript: str = "") -> dict:
        return {"type": "audio", "transcript": transcript}

    def _created(self, event) -> None:
        self.generated_ms = 0
        self.since_created_ms = 0
        item = protocol.assistant_item(self.item_id, "in_progress")
        self.emit({"type": "response.created",
                   "response": protocol.response_object(self.response_id, "in_progress", [])})
        self.emit({"type": "response.output_item.added", "response_id": self.response_id,
                   "output_index": 0, "item": item})
        self.emit({"type": "conversation.item.added", "previous_item_id": None, "item": item})
        self.emit({"type": "response.content_part.added", "response_id": self.response_id,
                   "item_id": self.item_id, "output_index": 0, "content_index": 0,
                   "part": self._part()})

    def _finish(self, status: str, reason: str | None) -> None:
        item_status = "completed" if status == "completed" else "incomplete"
        item = protocol.assistant_item(self.item_id, item_status, "…")
        self.emit(self._audio_event("response.output_audio.done"))
        self.emit(self._audio_event("response.output_audio_transcript.done", transcript="…"))
        self.emit(self._audio_event("response.content_part.done", part=self._part("…")))
        self.emit({"type": "response.output_item.done", "response_id": self.response_id,
                   "output_index": 0, "item": item})
        self.emit({"type": "conversation.item.done", "previous_item_id": None, "item": item})
        self.emit({"type": "response.done",
                   "response": protocol.response_object(self.response_id, status, [item], reason)})

    def _completed(self, event) -> None:
        self._finish("completed", None)

    def _cancelled(self, event) -> None:
        self._finish("cancelled", event.kwargs.get("reason", "client_cancelled"))

    def _already_active(self, event) -> None:
        self.emit(protocol.error(
            protocol.ALREADY_ACTIVE,
            f"Conversation already has an active response in progress: {self.response_id}. "
            "Wait until the response is finished before creating a new one."))

    def _not_active(self, event) -> None:
        self.emit(protocol.error(protocol.CANCEL_NOT_ACTIVE,
                                 "Cancellation failed: no active response found"))
