"""Test helpers for `vadlock serve`: start it as a process on 127.0.0.1 (port 0), stop it
with SIGINT (bounded), and make client audio."""

from __future__ import annotations

import contextlib
import json
import select
import signal
import subprocess
import sys
import urllib.request

import numpy as np

from vadlock.simulator import audio
from vadlock.simulator.serve.voice import espeak_samples

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15


@contextlib.contextmanager
def served(*args: str):
    """Yields (ws url, process); afterwards the process got SIGINT and exited 0."""
    proc = subprocess.Popen([sys.executable, "-m", "vadlock", "serve", "--port", "0",
                             "--stop-after-s", "300", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
        assert ready, "vadlock serve did not print its first line"
        first = proc.stdout.readline().strip()
        assert first.startswith("listening on ws://127.0.0.1:"), first
        assert first.endswith("/v1/realtime") and not first.endswith(":0/v1/realtime")
        yield first.removeprefix("listening on "), proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("vadlock serve did not stop on SIGINT")
    assert proc.returncode == 0, err
    assert "stopped after" in err and "Traceback" not in err, err


def control(url: str, query: str) -> tuple[int, str]:
    http = url.replace("ws://", "http://").replace("/v1/realtime", "/vadlock/faults")
    try:
        with urllib.request.urlopen(f"{http}?{query}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def utterance_pcm16(text: str = "Hello there, could you tell me the weather for tomorrow?",
                    silence_after_ms: int = 1500, seed: int = 0) -> bytes:
    """Real speech (espeak-ng) between stretches of quiet room noise, as 24 kHz pcm16."""
    rng = np.random.default_rng(seed)
    room = audio.pink_noise(24 * (500 + silence_after_ms), audio.dbfs_to_rms(-60), rng)
    speech = espeak_samples(text) * np.float32(0.5)
    return audio.to_pcm16(np.concatenate([room[:24 * 500], speech, room[24 * 500:]]))


def chunks(pcm: bytes, chunk_ms: int = 100) -> list[bytes]:
    step = chunk_ms * 48
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]


def event_of(raw: bytes | str) -> dict:
    return json.loads(raw)
