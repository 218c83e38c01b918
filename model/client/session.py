"""The client side of one session: capture, gate, playback, watchdogs and beliefs wired together.

Sans-IO: `on_chunk(level, ms)` takes one captured chunk's level (None when the
AudioContext delivered nothing), `receive(event)` one server event, `advance(ms)` lets
simulated time pass. Each returns the client events to send; notices go to `notices`,
and requests the engine must carry out (reconnect) to `requests`.
"""

from __future__ import annotations

from typing import Any

from vadlock.model import protocol
from vadlock.model.client.beliefs import BeliefState, ServerBeliefs
from vadlock.model.client.capture import Capture
from vadlock.model.client.gate import VadGate
from vadlock.model.client.health import CaptureHealthWatchdog
from vadlock.model.client.liveness import LivenessWatchdog
from vadlock.model.client.outputs import CommitOrClear, Notice, Reacquire
from vadlock.model.client.playback import Playback
from vadlock.model.client.rules import WatchdogRule
from vadlock.model.client.watchdog import StuckVadWatchdog
from vadlock.model.designs import Design
from vadlock.model.machine import MachineSession

ROLES = ("user", "assistant")
REPLAY_MAX_ITEMS = 40

# What each server event makes the client do, in order (the couplings, as data): a
# machine's trigger, "machine.trigger" (skipped where the design has no such machine), or
# a method of the session. Every event reaches the liveness watchdog first.
RECEIVE_COUPLINGS: dict[str, tuple[str, ...]] = {
    "input_audio_buffer.speech_started": ("beliefs.speech_started", "watchdog.speech_started",
                                          "_barge_in"),
    "input_audio_buffer.speech_stopped": ("beliefs.speech_stopped", "watchdog.speech_stopped"),
    "input_audio_buffer.committed": ("_buffer_taken",),
    "input_audio_buffer.timeout_triggered": ("_buffer_taken",),
    "input_audio_buffer.cleared": ("_buffer_taken", "beliefs.buffer_cleared"),
    "response.created": ("beliefs.response_created",),
    "response.output_audio.delta": ("_queue_audio",),
    "response.done": ("beliefs.response_done",),
    "output_audio_buffer.started": ("_server_playback_started",),
    "output_audio_buffer.stopped": ("_server_playback_ended",),
    "output_audio_buffer.cleared": ("_server_playback_ended",),
    "error": ("_record_error",),
    "conversation.item.done": ("_item_done",),
}
# What the session does with each output of its machines that is not a wire event
OUTPUT_COUPLINGS: dict[type, str] = {
    Notice: "_notify", Reacquire: "_reacquire", CommitOrClear: "_commit_or_clear",
}


class ClientSession(MachineSession):
    def __init__(self, design: Design) -> None:
        self.design = design
        scale = design.level_scale
        self.scale = scale
        self.webrtc = design.transport == "webrtc"
        self.turn_detection = design.turn_detection()
        self.capture = Capture()
        self.gate = VadGate(
            "off" if self.webrtc else design.gate.mode, scale.threshold_level("gate"),
            design.gate.lag_chunks, design.gate.hangover_ms, design.chunk_ms)
        self.playback = Playback(scale.threshold_level("interrupt"), truncates=not self.webrtc,
                                 plays_locally=not self.webrtc)
        self.beliefs = ServerBeliefs()
        self.watchdog = (StuckVadWatchdog(design.stuck_vad_watchdog_ms)
                         if design.stuck_vad_watchdog_ms else None)
        self.liveness = (LivenessWatchdog(design.liveness.first_rung_ms,
                                          design.liveness.next_rung_ms, self.turn_detection)
                         if design.liveness else None)
        self.health = (CaptureHealthWatchdog(design.capture_health_ms,
                                             scale.threshold_level("near_silent"))
                       if design.capture_health_ms else None)
        # generic watchdogs of a design file ("after N ms of CONDITION do ACTIONS")
        self.rules = tuple(WatchdogRule.numbered(i + 1)(spec.condition, spec.after_ms,
                                                        tuple(spec.actions), self.turn_detection)
                           for i, spec in enumerate(design.watchdog_rules))
        self.near_silent_level = scale.threshold_level("near_silent")
        self.speech_level = scale.threshold_level("gate")
        self.preroll_chunks = 0 if self.gate.mode == "off" else design.gate.preroll_chunks
        # (level, tag, duration_ms) of the chunks not sent yet
        self.preroll_line: tuple[tuple[int, object, int], ...] = ()
        self.mic_level = 0  # lastMicrophoneEnergy, as a level
        self.appended_since_commit_ms = 0
        self.conversation: list[str] = []  # the roles of the finished items, in order
        self.replaying = 0  # replayed items the new session has yet to confirm
        self.notices: list[str] = []
        self.requests: list[tuple] = []
        self.errors: list[dict[str, Any]] = []
        self.changes: list[tuple[str, str, str, str]] = []
        self.outbox: list[Any] = []  # shared by the machines: outputs in the order emitted
        # the order in which time reaches them and the explorer lists their timers
        self.machines = tuple(m for m in (self.capture, self.watchdog, self.playback, self.gate,
                                          self.beliefs, self.liveness, self.health, *self.rules)
                              if m is not None)
        for machine in self.machines:
            machine.changes = self.changes
            machine.outbox = self.outbox
        self._reactions = {kind: tuple(r for r in map(self._reaction, actions) if r)
                           for kind, actions in RECEIVE_COUPLINGS.items()}

    def _reaction(self, action: str):
        """`RECEIVE_COUPLINGS`' name for a step, as a callable taking the event (None: the
        design has no such machine)."""
        if "." not in action:
            return getattr(self, action)
        machine_name, trigger = action.split(".")
        machine = getattr(self, machine_name)
        if machine is None:
            return None
        bound = getattr(machine, trigger)
        return lambda event: bound()

    # -- inputs ------------------------------------------------------------------------
    def start(self) -> list[dict[str, Any]]:
        return [protocol.session_update(self.turn_detection)]

    def on_chunk(self, level: int | None, duration_ms: int, tag: object = None
                 ) -> tuple[str | None, list[dict]]:
        """One chunk from the worklet, named by `tag`. Returns (the wire mode of the chunk
        sent now — with a pre-roll line, an earlier one — or None, events to send)."""
        if self.health is not None:
            self.health.chunk(level, duration_ms)
        self._rules_see("near_silent_input", level is None or level < self.near_silent_level)
        out = self._collect()
        if level is None:
            return None, out
        self.mic_level = level
        line = self.preroll_line + ((level, tag, duration_ms),)
        if len(line) <= self.preroll_chunks:
            self.preroll_line = line
            return None, out
        (sent_level, sent_tag, sent_ms), self.preroll_line = line[0], line[1:]
        mode = self.gate.chunk(max(entry[0] for entry in line))
        self.appended_since_commit_ms += sent_ms
        out.append(protocol.append(protocol.AudioPayload("mic", sent_ms, mode, tag=sent_tag)))
        self._rules_see("no_server_event_while_sending", True)
        if self.liveness is not None:
            self.liveness.audio_sent(
                sent_ms, mode == "raw" and sent_level >= self.speech_level
                and self.beliefs.state != BeliefState.USER_SPEAKING)
            out += self._collect()
        return mode, out

    def receive(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event["type"]
        if self.liveness is not None:
            self.liveness.server_event(kind)
        self._rules_see("no_server_event_while_sending", False)
        if kind == "input_audio_buffer.speech_started":
            self._rules_see("speech_not_stopped", True)
        elif kind in ("input_audio_buffer.speech_stopped", "input_audio_buffer.cleared"):
            self._rules_see("speech_not_stopped", False)
        for reaction in self._reactions.get(kind, ()):
            reaction(event)
        return self._collect()

    def _rules_see(self, condition: str, holds: bool) -> None:
        """The generic watchdogs watching `condition`: it began (holds) or ended."""
        for rule in self.rules:
            if rule.condition == condition:
                rule.condition_began() if holds else rule.condition_ended()

    # -- the steps of RECEIVE_COUPLINGS that are more than one trigger ----------------------
    def _barge_in(self, event) -> None:
        self.playback.barge_in(mic_level=self.mic_level)

    def _buffer_taken(self, event) -> None:
        self.appended_since_commit_ms = 0

    def _queue_audio(self, event) -> None:
        if not self.webrtc:  # over WebRTC response audio travels on the media track
            self.playback.queue_audio(event["item_id"], event["delta"].duration_ms
                                      if isinstance(event["delta"], protocol.AudioPayload)
                                      else _pcm16_ms(event["delta"]))

    def _server_playback_started(self, event) -> None:
        if self.webrtc:
            self.playback.audio_arrived()

    def _server_playback_ended(self, event) -> None:
        if self.webrtc:
            self.playback.flush()

    def _record_error(self, event) -> None:
        self.errors.append(event)

    def _item_done(self, event) -> None:
        item = event.get("item")
        role = item.get("role") if isinstance(item, dict) else None
        if role in ROLES and self.replaying:  # the new session echoing the replay
            self.replaying -= 1
        elif role in ROLES:
            self.conversation.append(role)

    def advance(self, elapsed_ms: int) -> list[dict[str, Any]]:
        """Let wall time pass for every machine's clock timers (`model.machine.Timer`)."""
        for machine in self.machines:
            machine.advance(elapsed_ms)
        return self._collect()

    def capture_fault(self, fault: str | None) -> list[dict[str, Any]]:
        """The capture becomes `fault` (one of `capture.FAULTS`), or live again (None)."""
        if fault is None:
            self.capture.restore()
        else:
            self.capture.start_fault(fault)
        return self._collect()

    # -- internals ---------------------------------------------------------------------
    def _collect(self) -> list[dict[str, Any]]:
        """The machines' outputs as events to send; notices and requests set aside."""
        out: list[dict[str, Any]] = []
        while self.outbox:
            outputs = self.outbox[:]
            self.outbox.clear()
            for output in outputs:
                if isinstance(output, dict):
                    out.append(output)
                elif type(output) in OUTPUT_COUPLINGS:
                    out += getattr(self, OUTPUT_COUPLINGS[type(output)])(output)
                else:
                    self.requests.append(output)  # for the engine (reconnect)
        return out

    def _notify(self, output: Notice) -> list[dict[str, Any]]:
        self.notices.append(output.text)
        return []

    def _reacquire(self, output: Reacquire) -> list[dict[str, Any]]:
        self.capture.reacquire()
        return []

    def _commit_or_clear(self, output: CommitOrClear) -> list[dict[str, Any]]:
        return [protocol.commit() if self.appended_since_commit_ms >= protocol.MIN_COMMIT_MS
                else protocol.clear()]

    def reconnected(self, replay: bool = True) -> list[dict[str, Any]]:
        """After a reconnect: fresh beliefs, playback and stuck-VAD watchdog, the session
        re-configured, and the conversation so far replayed as items (its last
        REPLAY_MAX_ITEMS turns). The liveness ladder stays on its last rung until the new
        session shows a turn event (a new session that stalls too is reconnected again);
        the capture-health watchdog watches the microphone, which a reconnect leaves as
        it is. Without `replay` (a watchdog rule's plain `reconnect`) the history is not
        sent."""
        self.beliefs.reset()
        self.playback.flush()
        if self.watchdog is not None:
            self.watchdog.speech_stopped()
        self.appended_since_commit_ms = 0
        for rule in self.rules:
            rule.condition_ended()
        history = self.conversation[-REPLAY_MAX_ITEMS:] if replay else []
        self.replaying = len(history)
        return [protocol.session_update(self.turn_detection),
                *(protocol.item_create(role, f"({role} turn {i + 1}, replayed)")
                  for i, role in enumerate(history))]


def _pcm16_ms(b64: str) -> int:
    """Duration of base64 pcm16 audio at 24 kHz, in ms."""
    n_bytes = len(b64) * 3 // 4 - b64[-2:].count("=")
    return n_bytes // 2 * 1000 // protocol.SAMPLE_RATE_HZ


def client_snapshot(client: ClientSession) -> tuple:
    """The client's abstract state: machines with timers as running/not, plus what guards
    read of the rest: whether the last chunk reached the interruption threshold (the only
    use of lastMicrophoneEnergy) and whether >= 100 ms were appended since the last commit."""
    return (tuple(m.abstract_snapshot() for m in client.machines),
            client.mic_level >= client.playback.interrupt_level,
            client.appended_since_commit_ms >= protocol.MIN_COMMIT_MS, client.preroll_line)


def load_client_snapshot(client: ClientSession, snap: tuple) -> None:
    machines, loud, enough, client.preroll_line = snap
    client.mic_level = client.playback.interrupt_level if loud else 0
    for machine, machine_snap in zip(client.machines, machines):
        machine.load_abstract_snapshot(machine_snap)
    client.appended_since_commit_ms = protocol.MIN_COMMIT_MS if enough else 0
    client.conversation, client.replaying = [], 0  # only fills in the replay: abstracted
    client.notices.clear()
    client.requests.clear()
    client.changes.clear()
