"""The reference client (web/) in headless Chromium against `vadlock serve`.

Each case compares three things on the same microphone audio and faults: the browser's
verdict (was speech heard again after the fault), the model's verdict (the simulator with
the same WAV as the microphone and the same faults), and the page's journal against the
model's client (conformance: a divergence is a failure). `make browser` runs this file
alone; `.ci/run` runs it with the rest. A missing Chromium fails, it does not skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vadlock.browser import (CaptureFaultAt, run_page, start_serve, stop_serve,
                             write_jsonl)
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator import audio
from vadlock.simulator.conformance import check
from vadlock.simulator.engine import simulate
from vadlock.simulator.recording import load_wav, scenario_for_recording, write_wav
from vadlock.simulator.scenario import CaptureFault, ServerFault

TURN_S = 10  # one user turn every 10 s: 2-3 s of speech, then the assistant's answer
FAULT_S = 12.0  # faults come after the first good turn
RUN_S = 38.0  # shorter than the WAV: Chromium loops the file
HEALTHY_RUN_S = 25.0  # three turns
SENTENCES = ("Hello, can you hear me? I would like to book a table for two tonight.",
             "Actually, make that three people, and could we sit by the window please?",
             "Thank you. And is there anything vegetarian on the menu this evening?",
             "Great. Please send me a confirmation by email when it is done.")
# where `make browser` writes each case's verdicts and a screenshot of the page recovering
FIGURES = Path(os.environ["VADLOCK_BROWSER_FIGURES"]) if os.environ.get(
    "VADLOCK_BROWSER_FIGURES") else None


def _espeak(text: str, path: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), text],
                   check=True, capture_output=True)
    return load_wav(path)


@pytest.fixture(scope="module")
def microphone(tmp_path_factory) -> dict[str, Path]:
    """WAVs for the fake microphone: a turn every TURN_S seconds over quiet room noise;
    `attenuated` has every turn from FAULT_S on 54 dB down (the report's attenuated capture)."""
    assert shutil.which("espeak-ng"), "espeak-ng is missing: the set-up installs it"
    out = tmp_path_factory.mktemp("mic")
    speech = [_espeak(text, out / f"s{i}.wav") for i, text in enumerate(SENTENCES)]
    n = int(len(SENTENCES) * TURN_S * audio.SAMPLE_RATE_HZ)
    rng = np.random.default_rng(0)
    room = audio.pink_noise(n, audio.dbfs_to_rms(-60.0), rng)
    wavs = {}
    for name, gain_from_fault_db in (("clean", 0.0), ("attenuated", -54.0)):
        samples = room.copy()
        for i, s in enumerate(speech):
            at = int((1 + i * TURN_S) * audio.SAMPLE_RATE_HZ)
            gain = 10 ** ((gain_from_fault_db if i * TURN_S + 1 >= FAULT_S else 0.0) / 20)
            level = 10 ** (-22 / 20) / max(1e-9, float(np.sqrt(np.mean(s ** 2))))
            samples[at:at + len(s)] += s[:n - at] * level * gain
        wavs[name] = write_wav(out / f"{name}.wav", samples)
    return wavs


def _heard_after(wire: list[dict], t_ms: float) -> bool:
    return any(r["direction"] == "server_to_client" and r["t_ms"] >= t_ms
               and r["event"].get("type") == "input_audio_buffer.speech_started"
               for r in wire)


def _model_run(design_name: str, wav: Path, fault: CaptureFault | None,
               server_fault: ServerFault | None = None, run_s: float = RUN_S):
    samples = load_wav(wav)[:int(run_s * audio.SAMPLE_RATE_HZ)]
    # Chromium's fake microphone does not hear the page's own playback: no echo
    scenario = replace(scenario_for_recording(samples, "browser-case"), echo_gain_db=-120.0)
    if fault is not None:
        scenario = replace(scenario, capture_faults=(fault,))
    if server_fault is not None:
        scenario = replace(scenario, server_faults=(server_fault,))
    trace = simulate(get_design(design_name), ServerVadHypotheses.parse("energy"), scenario,
                     recording=samples)
    return trace


def _model_heard_after(trace, t_ms: float) -> bool:
    return any(r.t_ms >= t_ms for r in trace.events("server_to_client",
                                                    "input_audio_buffer.speech_started"))


def _surfaced(history: list[tuple[float, str]]) -> bool:
    return any(state in ("degraded", "recovering") for _, state in history)


CASES = [
    # (id, design, wav, capture fault, server fault after the first turn)
    ("healthy-production", "production", "clean", None, None),
    ("healthy-development", "development", "clean", None, None),
    ("healthy-recommended", "recommended", "clean", None, None),
    # the other fixes the page runs (`webrtc` is a WebRTC client: not this WebSocket page)
    *((f"healthy-{name}", name, "clean", None, None) for name in (
        "no-gate", "comfort-noise-gate", "hysteresis-gate", "liveness-watchdog",
        "capture-health", "idle-timeout")),
    ("disabled-production", "production", "clean", "disabled", None),
    ("disabled-recommended", "recommended", "clean", "disabled", None),
    ("suspended-production", "production", "clean", "suspended", None),
    ("suspended-recommended", "recommended", "clean", "suspended", None),
    ("attenuated-production", "production", "attenuated", None, None),
    ("attenuated-recommended", "recommended", "attenuated", None, None),
    ("stall-production", "production", "clean", None, "stall"),
    ("stall-recommended", "recommended", "clean", None, "stall"),
]


@pytest.mark.parametrize("case_id,design,wav,capture,server_fault", CASES,
                         ids=[c[0] for c in CASES])
def test_browser_case(tmp_path, microphone, case_id, design, wav, capture, server_fault):
    server_log = tmp_path / "server.jsonl"
    serve_args = ["--fault", f"{server_fault}:after=1"] if server_fault else []
    proc, port = start_serve(["--server", "energy", *serve_args], server_log)
    try:
        fault = CaptureFaultAt(capture, FAULT_S) if capture else None
        faulted = capture or server_fault or wav != "clean"
        run = run_page(port, design, microphone[wav], RUN_S if faulted else HEALTHY_RUN_S, fault,
                       screenshot_in_states=("degraded", "recovering")
                       if design == "recommended" and (capture or server_fault) else ())
    finally:
        stop_serve(proc)
    write_jsonl(run.wire, tmp_path / "page.jsonl")
    # the page talked to the server, and the first turn was answered
    assert run.server_events("session.created"), run.state_history
    assert run.server_events("response.done"), run.state_history
    # the page's client conforms to the model's client on this run
    conformance = check(get_design(design), run.journal)
    assert conformance.conforms, conformance.to_dict()["divergences"][:10]
    # the server's log replays in the model with no divergence
    replay = subprocess.run([sys.executable, "-m", "vadlock", "replay",
                             str(tmp_path / "page.jsonl"), "--design", design, "--json"],
                            capture_output=True, text=True)
    report = json.loads(replay.stdout)
    assert report["divergences"] == [] and report["invalid"] == [], report["divergences"][:5]
    # browser and model agree on whether speech was heard after the fault
    # the attenuated stretch of the WAV is, to the model, an attenuated capture (54 dB
    # down) from FAULT_S on; Chromium's fake device restarts its file on a new
    # getUserMedia, which plays the part of the model's assumption that re-acquiring
    # the microphone brings the input back (`Capture.reacquire`)
    kind = "attenuated" if wav == "attenuated" else capture
    model_fault = CaptureFault(int(FAULT_S * 1000), kind) if kind else None
    trace = _model_run(design, microphone["clean"], model_fault,
                       ServerFault(server_fault, 1) if server_fault else None,
                       RUN_S if faulted else HEALTHY_RUN_S)
    after_ms = FAULT_S * 1000 + 2000
    assert _heard_after(run.wire, after_ms) == _model_heard_after(trace, after_ms), (
        case_id, run.state_history)
    # the page tells the user exactly when the model's client surfaces a notice
    assert _surfaced(run.state_history) == bool(trace.notices), (case_id, run.state_history)
    if FIGURES is not None:  # `make browser`: the cases' verdicts and a screenshot
        FIGURES.mkdir(parents=True, exist_ok=True)
        if run.screenshot is not None:
            (FIGURES / f"{case_id}.png").write_bytes(run.screenshot)
        (FIGURES / f"{case_id}.json").write_text(json.dumps({
            "case": case_id, "design": design, "capture_fault": capture, "wav": wav,
            "server_fault": server_fault,
            "browser": {"heard_after_fault": _heard_after(run.wire, after_ms),
                        "surfaced": _surfaced(run.state_history),
                        "states": [state for _, state in run.state_history]},
            "model": {"heard_after_fault": _model_heard_after(trace, after_ms),
                      "surfaced": bool(trace.notices), "reconnects": trace.reconnects},
            "conformance": conformance.to_dict()}, indent=1) + "\n")
