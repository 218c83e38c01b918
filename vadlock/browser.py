"""The reference client in a real browser: headless Chromium against `vadlock serve`.

One *case* is a design, a microphone recording (WAV, played by Chromium's fake capture
device, looped), an optional capture fault injected from outside at a time (the track
disabled, the AudioContext suspended — an attenuated stretch lives in the WAV itself) and
an optional server fault (`vadlock serve --fault`). The run gives:
- the page's journal and wire log (`web/client.js`), and the server's own log;
- the browser's verdict: was speech heard again after the fault (a `speech_started` the
  client received after it), how many responses completed;
- the model's verdict on the same audio and faults (`simulate` with the WAV as the
  microphone), by the same predicate;
- the conformance of the page's journal to the model's client (`simulator.conformance`).

Chromium comes from Debian's packages (`chromium`, `chromium-driver`); nothing downloads a
browser. Everything listens on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required")
SERVE_START_S = 20.0


class BrowserMissing(RuntimeError):
    """Chromium or its driver is not installed (the set-up installs both)."""


@dataclass(frozen=True)
class CaptureFaultAt:
    """A capture fault the test injects into the page at `start_s` (wall seconds after the
    client started): `disabled` (track.enabled = false) or `suspended` (AudioContext)."""

    kind: str
    start_s: float

    SCRIPTS = {
        "disabled": "window.vadlock.mic.track.enabled = false;",
        "suspended": "window.vadlock.ctx.suspend();",
    }


@dataclass
class BrowserRun:
    design: str
    journal: list[dict[str, Any]]
    wire: list[dict[str, Any]]
    state_history: list[tuple[float, str]] = field(default_factory=list)
    screenshot: bytes | None = None
    server_log: Path | None = None

    def server_events(self, type_: str, after_ms: int = 0) -> list[dict[str, Any]]:
        return [r for r in self.wire if r["direction"] == "server_to_client"
                and r["event"].get("type") == type_ and r["t_ms"] >= after_ms]


def _require_browser() -> None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            raise BrowserMissing(f"{path} is missing: apt-get install chromium chromium-driver")


def start_serve(args: list[str], log: Path) -> tuple[subprocess.Popen, int]:
    """`vadlock serve` on 127.0.0.1 with an ephemeral port; returns (process, port)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "vadlock", "serve", "--host", "127.0.0.1", "--port", "0",
         "--page", str(WEB_DIR), "--log", str(log), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + SERVE_START_S
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("listening on ws://"):
            return proc, int(line.split(":")[2].split("/")[0])
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"vadlock serve did not start: {line!r} {proc.stderr.read()[-500:]}")


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def run_page(port: int, design: str, wav: Path, run_s: float,
             capture_fault: CaptureFaultAt | None = None,
             screenshot_in_states: tuple[str, ...] = ()) -> BrowserRun:
    """Open `/?design=NAME` in headless Chromium with `wav` as the microphone for `run_s`
    seconds; inject `capture_fault`; return the page's journal and wire log (and a
    screenshot of the page the first time it shows one of `screenshot_in_states`)."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--use-file-for-fake-audio-capture={wav}")
    profile = tempfile.mkdtemp(prefix="vadlock-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    history: list[tuple[float, str]] = []
    shot = None
    try:
        driver.set_script_timeout(30)
        driver.get(f"http://127.0.0.1:{port}/?design={design}")
        deadline = time.monotonic() + 20
        while not driver.execute_script("return window.vadlock && window.vadlock.ready"):
            error = driver.execute_script("return window.vadlock && window.vadlock.error")
            if error or time.monotonic() > deadline:
                raise RuntimeError(f"the page did not start: {error}")
            time.sleep(0.1)
        start = time.monotonic()
        injected = False
        while (now := time.monotonic() - start) < run_s:
            if capture_fault and not injected and now >= capture_fault.start_s:
                driver.execute_script(CaptureFaultAt.SCRIPTS[capture_fault.kind])
                injected = True
            state = driver.execute_script(
                "return document.getElementById('state').dataset.state")
            if not history or history[-1][1] != state:
                history.append((round(now, 2), state))
                if state in screenshot_in_states and shot is None:
                    shot = driver.get_screenshot_as_png()
            time.sleep(0.2)
        journal = driver.execute_script("return window.vadlock.client.journal")
        wire = driver.execute_script("return window.vadlock.client.log")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return BrowserRun(design, journal, wire, history, shot)


def write_jsonl(records: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    return path
