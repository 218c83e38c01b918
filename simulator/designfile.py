"""Design files: a client design as TOML, read (`load_design`) and written (`design_toml`).

Every parameter of `model.designs.Design` has a key; a key left out takes the production
design's value, except the watchdogs: a file has the watchdogs it lists, none if none.
Unknown keys, wrong types and out-of-range values raise `DesignFileError`
(a `ValueError`) with one line naming the key. Watchdogs are written as clients in the
field write them, one `[[watchdogs]]` table each: `after_ms` of `when` do `do`.
Three shapes are the model's own watchdog machines and map to them:
- `when = "speech_not_stopped"`, `do = ["clear"]`: the production stuck-VAD watchdog;
- `when = "unanswered_speech"` (speech-level audio sent, no turn event from the server),
  `do = ["session_update", "commit_or_clear", "reconnect_with_replay"]` with
  `then_every_ms`: the liveness watchdog's escalation ladder (a rung per step);
- `when = "near_silent_input"`, `do = ["reacquire_microphone", "notify"]`: the
  capture-health watchdog.
Any other rule runs as a generic `model.client.rules.WatchdogRule`.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from vadlock.model.client.rules import ACTIONS, CONDITIONS
from vadlock.model.designs import (DESIGNS, PRODUCTION, VARIANT_RANGES, Design, GateConfig,
                                   LivenessConfig, WatchdogSpec)

LADDER = ("session_update", "commit_or_clear", "reconnect_with_replay")
CAPTURE_HEALTH_DO = ("reacquire_microphone", "notify")
WHEN = (*CONDITIONS, "unanswered_speech")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_WATCHDOG_MS = 3_600_000


class DesignFileError(ValueError):
    """A design file that cannot be used (one line, names the file and the key)."""


# key -> (kind, check, what the check says); kinds: str, int, float, bool
def _choice(*values):
    return (lambda v: v in values), "one of " + ", ".join(map(repr, values))


def _between(low, high):
    return (lambda v: low <= v <= high), f"in {low}..{high}"


TOP = {
    "name": ("str", (lambda v: bool(NAME.match(v))), "a name of letters, digits, _ . -"),
    "summary": ("str", None, ""),
    "fixes": ("str", None, ""),
    "transport": ("str", *_choice("websocket", "webrtc")),
    "chunk_ms": ("int", (lambda v: VARIANT_RANGES["chunk"][0] <= v <= VARIANT_RANGES["chunk"][1]
                         and v % 10 == 0), "in 10..1000 and a multiple of 10"),
    "interrupt_rms": ("float", (lambda v: 0 < v <= 1), "in (0, 1]"),
    "noise_reduction": ("str", *_choice("none", "near_field", "far_field")),
}
GATE = {
    "mode": ("str", *_choice("off", "zeros", "comfort_noise")),
    "threshold_rms": ("float", (lambda v: 0 < v <= 1), "in (0, 1]"),
    "hangover_ms": ("int", *_between(0, 10_000)),
    "preroll_chunks": ("int", *_between(0, 10)),
    "lag_chunks": ("int", *_between(0, 1)),
    "comfort_noise_dbfs": ("float", *_between(-120, 0)),
}
TURN_DETECTION = {
    "type": ("str", *_choice("server_vad", "semantic_vad")),
    "threshold": ("float", *_between(0, 1)),
    "prefix_padding_ms": ("int", *_between(0, 5_000)),
    "silence_duration_ms": ("int", *_between(*VARIANT_RANGES["silence"])),
    "idle_timeout_ms": ("int", (lambda v: v == 0 or 1_000 <= v <= 600_000),
                        "0 (none) or in 1000..600000"),
    "create_response": ("bool", None, ""),
    "interrupt_response": ("bool", None, ""),
    "eagerness": ("str", *_choice("low", "medium", "high", "auto")),
}
WATCHDOG = {
    "after_ms": ("int", *_between(1, MAX_WATCHDOG_MS)),
    "then_every_ms": ("int", *_between(1, MAX_WATCHDOG_MS)),
    "when": ("str", *_choice(*WHEN)),
    "do": ("list", None, ""),
}


def _value(source: str, key: str, value: Any, spec: tuple) -> Any:
    kind, check, says = spec
    ok_type = {"str": isinstance(value, str),
               "int": isinstance(value, int) and not isinstance(value, bool),
               "float": isinstance(value, (int, float)) and not isinstance(value, bool),
               "bool": isinstance(value, bool),
               "list": isinstance(value, list)}[kind]
    if not ok_type:
        name = {"str": "a string", "int": "an integer", "float": "a number",
                "bool": "true or false", "list": "a list"}[kind]
        raise DesignFileError(f"{source}: {key}: expected {name}, got {_show(value)}")
    if kind == "float" and not math.isfinite(value):
        raise DesignFileError(f"{source}: {key}: expected a finite number, got {value}")
    if check is not None and not check(value):
        raise DesignFileError(f"{source}: {key}: {_show(value)} out of range (expected {says})")
    return float(value) if kind == "float" else value


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, bool, int, float)) else type(value).__name__


def _table(source: str, prefix: str, data: Any, specs: dict) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DesignFileError(f"{source}: {prefix.rstrip('.')}: expected a table")
    out = {}
    for key, value in data.items():
        if key not in specs:
            raise DesignFileError(f"{source}: {prefix}{key}: unknown key (known: "
                                  f"{', '.join(specs)})")
        out[key] = _value(source, prefix + key, value, specs[key])
    return out


# -- reading ---------------------------------------------------------------------------
def load_design(path: str | Path) -> Design:
    """The design a file declares; `DesignFileError` with one line for anything wrong."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise DesignFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DesignFileError(f"{path}: not UTF-8 text") from None
    return parse_design(text, str(path))


def parse_design(text: str, source: str = "design") -> Design:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DesignFileError(f"{source}: not TOML ({str(exc).splitlines()[0]})") from None
    sections = {"gate": GATE, "turn_detection": TURN_DETECTION}
    top = _table(source, "", {k: v for k, v in data.items()
                              if k not in (*sections, "watchdogs")}, TOP)
    if "name" not in top:
        raise DesignFileError(f"{source}: name: missing (every design file names its design)")
    gate = _table(source, "gate.", data.get("gate", {}), GATE)
    td = _table(source, "turn_detection.", data.get("turn_detection", {}), TURN_DETECTION)
    watchdogs = data.get("watchdogs", [])
    if not isinstance(watchdogs, list):
        raise DesignFileError(f"{source}: watchdogs: expected an array of tables "
                              "([[watchdogs]])")
    design = replace(
        PRODUCTION, name=top["name"], summary=top.get("summary", f"design file {source}"),
        fixes=top.get("fixes", ""), transport=top.get("transport", PRODUCTION.transport),
        chunk_ms=top.get("chunk_ms", PRODUCTION.chunk_ms),
        interrupt_rms=top.get("interrupt_rms", PRODUCTION.interrupt_rms),
        noise_reduction=None if top.get("noise_reduction", "none") == "none"
        else top["noise_reduction"],
        gate=replace(GateConfig(), **gate),
        vad_type=td.get("type", "server_vad"),
        vad_threshold=td.get("threshold", PRODUCTION.vad_threshold),
        prefix_padding_ms=td.get("prefix_padding_ms", PRODUCTION.prefix_padding_ms),
        silence_duration_ms=td.get("silence_duration_ms", PRODUCTION.silence_duration_ms),
        idle_timeout_ms=td.get("idle_timeout_ms") or None,
        create_response=td.get("create_response", True),
        interrupt_response=td.get("interrupt_response", True),
        eagerness=td.get("eagerness", "auto"),
        stuck_vad_watchdog_ms=None, liveness=None, capture_health_ms=None, watchdog_rules=())
    for i, entry in enumerate(watchdogs):
        design = _add_watchdog(design, _table(source, f"watchdogs[{i}].", entry, WATCHDOG),
                               source, f"watchdogs[{i}].")
    builtin = DESIGNS.get(design.name)
    if builtin is not None and builtin != replace(design, summary=builtin.summary,
                                                  fixes=builtin.fixes):
        raise DesignFileError(f"{source}: name: {design.name!r} is a built-in design and this "
                              "file changes it; give it a name of its own")
    return builtin if builtin is not None else design


def _add_watchdog(design: Design, rule: dict[str, Any], source: str, where: str) -> Design:
    for key in ("after_ms", "when", "do"):
        if key not in rule:
            raise DesignFileError(f"{source}: {where}{key}: missing")
    actions = tuple(rule["do"])
    for i, action in enumerate(actions):
        if action not in ACTIONS:
            raise DesignFileError(f"{source}: {where}do[{i}]: unknown action {_show(action)} "
                                  f"(known: {', '.join(ACTIONS)})")
    if not actions:
        raise DesignFileError(f"{source}: {where}do: no action")
    when, after_ms = rule["when"], rule["after_ms"]
    every = rule.get("then_every_ms")
    if when == "unanswered_speech":
        if actions != LADDER or every is None or design.liveness is not None:
            raise DesignFileError(
                f"{source}: {where}when: 'unanswered_speech' is modelled only as the liveness "
                f"ladder, once: do = {list(LADDER)} with then_every_ms")
        return replace(design, liveness=LivenessConfig(after_ms, every))
    if every is not None:
        raise DesignFileError(f"{source}: {where}then_every_ms: only for "
                              "when = 'unanswered_speech' (the ladder)")
    if when == "speech_not_stopped" and actions == ("clear",) and \
            design.stuck_vad_watchdog_ms is None:
        return replace(design, stuck_vad_watchdog_ms=after_ms)
    if when == "near_silent_input" and actions == CAPTURE_HEALTH_DO and \
            design.capture_health_ms is None:
        return replace(design, capture_health_ms=after_ms)
    return replace(design, watchdog_rules=(*design.watchdog_rules,
                                           WatchdogSpec(when, after_ms, actions)))


# -- writing ---------------------------------------------------------------------------
def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def design_toml(design: Design) -> str:
    """`design` as a design file that `load_design` reads back to an equal design."""
    def line(key: str, value: Any, note: str = "") -> str:
        text = f"{key} = {_toml(value)}"
        return f"{text:40} # {note}" if note else text

    g = design.gate
    out = [
        f"# vadlock design file: {design.name}",
        "# validate: vadlock design check FILE; use: vadlock simulate --design-file FILE",
        line("name", design.name),
        line("summary", design.summary),
        line("fixes", design.fixes),
        line("transport", design.transport, "websocket | webrtc"),
        line("chunk_ms", design.chunk_ms, "worklet chunk, 10..1000, a multiple of 10"),
        line("interrupt_rms", design.interrupt_rms, "barge-in: mic RMS that stops playback"),
        line("noise_reduction", design.noise_reduction or "none",
             "none | near_field | far_field"),
        "", "[gate]",
        line("mode", g.mode, "off | zeros | comfort_noise"),
        line("threshold_rms", g.threshold_rms, "a chunk below this RMS is replaced"),
        line("hangover_ms", g.hangover_ms, "stay open this long after the level drops"),
        line("preroll_chunks", g.preroll_chunks, "a chunk passes if one of the next N is loud"),
        line("lag_chunks", g.lag_chunks, "1: decide on the previous chunk's energy"),
        line("comfort_noise_dbfs", g.comfort_noise_dbfs, "what comfort_noise sends"),
        "", "[turn_detection]",
        line("type", design.vad_type, "server_vad | semantic_vad"),
        line("threshold", design.vad_threshold),
        line("prefix_padding_ms", design.prefix_padding_ms),
        line("silence_duration_ms", design.silence_duration_ms),
        line("idle_timeout_ms", design.idle_timeout_ms or 0, "0: none"),
        line("create_response", design.create_response),
        line("interrupt_response", design.interrupt_response),
        line("eagerness", design.eagerness, "semantic_vad: low | medium | high | auto"),
    ]
    rules: list[list[str]] = []
    if design.stuck_vad_watchdog_ms:
        rules.append([line("after_ms", design.stuck_vad_watchdog_ms),
                      line("when", "speech_not_stopped"), line("do", ["clear"])])
    if design.liveness is not None:
        rules.append([line("after_ms", design.liveness.first_rung_ms),
                      line("then_every_ms", design.liveness.next_rung_ms),
                      line("when", "unanswered_speech"), line("do", list(LADDER))])
    if design.capture_health_ms:
        rules.append([line("after_ms", design.capture_health_ms),
                      line("when", "near_silent_input"), line("do", list(CAPTURE_HEALTH_DO))])
    for spec in design.watchdog_rules:
        rules.append([line("after_ms", spec.after_ms), line("when", spec.condition),
                      line("do", list(spec.actions))])
    for rule in rules:
        out += ["", "[[watchdogs]]", *rule]
    if not rules:
        out += ["", "# no watchdogs; add one as:", "# [[watchdogs]]", "# after_ms = 10000",
                f"# when = \"no_server_event_while_sending\"   # {' | '.join(WHEN)}",
                f"# do = [\"reconnect_with_replay\", \"notify\"]  # {', '.join(ACTIONS)}"]
    return "\n".join(out) + "\n"
