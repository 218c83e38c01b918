"""The base server VAD against WebRTC VAD: where they agree, and where they do not."""

import json

import pytest

from vadlock.analysis.calibrate import calibrate, compare, findings
from vadlock.cli import main

webrtcvad = pytest.importorskip("webrtcvad")


@pytest.fixture(scope="module")
def rows():
    return {r.kind: r for r in calibrate(seed=0)}


def test_they_agree_on_speech_at_a_normal_level_and_on_quiet_rooms(rows):
    assert rows["speech at -22 dBFS"].agreement >= 0.9
    for kind in ("room noise at -50 dBFS", "muted track"):
        assert rows[kind].agreement >= 0.98 and rows[kind].model_speech == 0


def test_where_they_part_quiet_speech_and_keyboard_typing(rows):
    quiet, normal = rows["speech at -38 dBFS"], rows["speech at -22 dBFS"]
    assert quiet.agreement < normal.agreement and quiet.model_speech < quiet.webrtc_speech
    typing = rows["keyboard typing"]
    assert typing.model_speech == 0 and typing.webrtc_speech > 0.25
    assert any("keyboard typing" in line and "noise-as-speech" in line
               for line in findings(list(rows.values())))


def test_the_command_on_a_recording(tmp_path, capsys):
    import numpy as np

    from vadlock.simulator import audio
    from vadlock.simulator.recording import write_wav
    voice = audio.speech(3_000, 0.08, np.random.default_rng(0))
    path = write_wav(tmp_path / "voice.wav", np.concatenate([np.zeros(24_000, np.float32),
                                                             voice]), rate=48_000 // 2)
    assert main(["calibrate", "--audio", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"][0]["frames"] == 400 and out["rows"][0]["agreement"] > 0.8
    assert compare("x", voice).frames == 300
