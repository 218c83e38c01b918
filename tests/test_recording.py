"""Recordings as the microphone signal: WAV reading, resampling, mixdown, and the claim
that a recording goes through frame symbols, gate and server VAD exactly like synthetic
audio."""

import json
import struct

import numpy as np
import pytest

import vadlock.cli as cli
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator import audio, features, recording
from vadlock.simulator.engine import environment_audio, simulate
from vadlock.simulator.presets import preset
from vadlock.simulator.recording import (RecordingError, load_wav, place_recordings, read_wav,
                                 resample, scenario_for_recording, write_wav)

SCALE = get_design("production").level_scale
CHUNK = 100 * audio.SAMPLES_PER_MS


def run_cli(argv, monkeypatch=None) -> int:
    """The real CLI, `vadlock.cli.main`: a command it lacks fails the test."""
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return exc.code


def synthetic_mic(seed: int = 7) -> np.ndarray:
    """12 s of vadlock's own synthetic audio: pink room noise, four utterances at
    different levels, a stretch of exact zeros, and keyboard typing at the end."""
    rng = np.random.default_rng(seed)
    n = 12_000 * audio.SAMPLES_PER_MS
    x = audio.pink_noise(n, audio.dbfs_to_rms(-50), rng)
    for start, dur, level in ((1000, 2000, -22), (4500, 1500, -35), (7000, 2500, -16),
                              (10200, 800, -45)):
        voice = audio.speech(dur, audio.dbfs_to_rms(level), rng)
        x[start * 24:start * 24 + len(voice)] += voice
    x[9_700 * 24:10_000 * 24] = 0.0  # digital silence, 300 ms (chunks 97-99)
    keys = audio.keyboard(12_000, 6, audio.dbfs_to_rms(-10), rng)
    x[10_500 * 24:] += keys[10_500 * 24:]
    return x


def chunk_symbols(x: np.ndarray):
    usable = len(x) // CHUNK * CHUNK
    return features.symbols(x[:usable].reshape(-1, CHUNK), SCALE)


def riff(fmt: bytes, data: bytes, extra: bytes = b"") -> bytes:
    body = (b"WAVE" + extra + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag, channels, rate, bits):
    block = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)


def extensible(sub_tag, channels, rate, bits):
    guid = struct.pack("<H", sub_tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return fmt_chunk(0xFFFE, channels, rate, bits) + struct.pack("<HHI", 22, bits, 3) + guid


TONE = (0.5 * np.sin(2 * np.pi * 440 * np.arange(24_000) / 24_000)).astype(np.float32)


# -- the synthetic path and the recorded path agree ------------------------------------
def test_24k_mono_16bit_wav_gives_identical_frame_symbols(tmp_path):
    x = synthetic_mic()
    loaded = load_wav(write_wav(tmp_path / "mic.wav", x))
    assert loaded.dtype == np.float32 and len(loaded) == len(x)
    assert np.max(np.abs(loaded - x)) < 2 / 32768  # int16 quantisation only
    original = chunk_symbols(x)
    assert len(set(original)) >= 6  # zeros, room noise, speech bands, key clicks
    assert chunk_symbols(loaded) == original


def test_48k_stereo_wav_is_resampled_and_mixed_down(tmp_path):
    x = synthetic_mic()
    up = resample(x, 24_000, 48_000)
    # different channels whose average is the signal: the mixdown must average
    side = np.random.default_rng(1).standard_normal(len(up)) * 0.002
    path = write_wav(tmp_path / "mic48.wav", np.stack([up + side, up - side], axis=1), 48_000)
    loaded, fmt = read_wav(path)
    assert (fmt.rate, fmt.channels, fmt.encoding) == (48_000, 2, "pcm16")
    assert len(loaded) == len(x)
    original, resampled = chunk_symbols(x), chunk_symbols(loaded)
    differ = [i for i, (a, b) in enumerate(zip(original, resampled)) if a != b]
    # The chunks that may differ are the edges of the digital silence (chunks 97 and 99):
    # the anti-alias filter's impulse response (16 zero crossings, about 0.7 ms) smears
    # the neighbouring noise into the zeros, so those chunks become non-zero near-nothing
    # (and, their energy sitting in one corner, "transient"). Everything else, speech
    # bands and key clicks included, survives 24 -> 48 -> 24 kHz and the int16 rounding.
    assert len(differ) <= 0.05 * len(original), differ
    assert set(differ) <= {97, 99}
    assert resampled[98] == original[98] and original[98].level == 0


def test_a_recording_runs_through_gate_and_server_vad_like_synthetic_audio(tmp_path):
    scenario = preset("conversation", 25_000)
    mic = load_wav(write_wav(tmp_path / "conv.wav", environment_audio(scenario, 3)))
    alone = scenario_for_recording(mic, "conv")
    assert (alone.duration_ms, alone.utterances, alone.room_noise_dbfs) == (25_000, (), -120.0)
    for design in ("production", "development"):
        synthetic = simulate(get_design(design), ServerVadHypotheses(), scenario, seed=3)
        recorded = simulate(get_design(design), ServerVadHypotheses(), alone, seed=3,
                            recording=mic)
        assert recorded.chunks["level"] == synthetic.chunks["level"]
        assert recorded.frames == synthetic.frames  # what the server decoded, frame by frame
        vad = [(r.t_ms, r.type) for r in synthetic.server_events()
               if r.type.startswith("input_audio_buffer.")]
        assert vad and [(r.t_ms, r.type) for r in recorded.server_events()
                        if r.type.startswith("input_audio_buffer.")] == vad


# -- formats -----------------------------------------------------------------------------
@pytest.mark.parametrize("name,fmt,data,tolerance", [
    ("float32", fmt_chunk(3, 1, 24_000, 32), TONE.astype("<f4").tobytes(), 0.0),
    ("float64", fmt_chunk(3, 1, 24_000, 64), TONE.astype("<f8").tobytes(), 1e-7),
    ("pcm32", fmt_chunk(1, 1, 24_000, 32),
     np.round(TONE * 2 ** 31).astype("<i4").tobytes(), 1e-7),
    ("pcm8", fmt_chunk(1, 1, 24_000, 8),
     np.round(TONE * 127 + 128).astype(np.uint8).tobytes(), 1 / 127),
    ("ext-float32", extensible(3, 1, 24_000, 32), TONE.astype("<f4").tobytes(), 0.0),
    ("ext-pcm16", extensible(1, 1, 24_000, 16),
     np.round(TONE * 32767).astype("<i2").tobytes(), 2 / 32768),
])
def test_sample_formats(tmp_path, name, fmt, data, tolerance):
    path = tmp_path / f"{name}.wav"
    path.write_bytes(riff(fmt, data, extra=b"LIST" + struct.pack("<I", 3) + b"abc\x00"))
    loaded = load_wav(path)
    assert len(loaded) == len(TONE)
    assert np.max(np.abs(loaded - TONE)) <= tolerance + 1e-7


def test_24bit_pcm(tmp_path):
    value = np.round(TONE * (2 ** 23 - 1)).astype(np.int32)
    data = np.stack([value & 255, (value >> 8) & 255, (value >> 16) & 255], 1)
    path = tmp_path / "p24.wav"
    path.write_bytes(riff(fmt_chunk(1, 1, 24_000, 24), data.astype(np.uint8).tobytes()))
    assert np.max(np.abs(load_wav(path) - TONE)) < 1e-6


def test_stereo_mixdown_averages_channels(tmp_path):
    left, right = TONE, np.zeros_like(TONE)
    path = write_wav(tmp_path / "lr.wav", np.stack([left, right], axis=1))
    assert np.max(np.abs(load_wav(path) - TONE / 2)) < 2 / 32768


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100, 48_000])
def test_resampling_keeps_a_tone_and_its_level(tmp_path, rate):
    t = np.arange(rate) / rate
    path = write_wav(tmp_path / f"tone{rate}.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), rate)
    loaded = load_wav(path)
    assert len(loaded) == 24_000
    ideal = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(24_000) / 24_000)
    assert np.max(np.abs(loaded[1000:-1000] - ideal[1000:-1000])) < 1e-3


def test_resampling_removes_what_would_alias():
    rate = 48_000
    t = np.arange(rate) / rate
    above = resample(np.sin(2 * np.pi * 13_500 * t), rate)  # above the 12 kHz Nyquist
    assert np.sqrt(np.mean(above[1000:-1000] ** 2)) < 1e-3


def test_resampling_is_deterministic():
    x = np.random.default_rng(0).standard_normal(44_100)
    assert resample(x, 44_100).tobytes() == resample(x, 44_100).tobytes()


# -- bad files ---------------------------------------------------------------------------
@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"hello, not audio at all\n" * 5, "not a WAV file"),
    (b"RIFF\x04\x00\x00\x00WA", "not a WAV file"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not a WAV file"),
    (riff(fmt_chunk(6, 1, 8_000, 8), b"\x00" * 80), "unsupported sample format"),
    (riff(fmt_chunk(3, 1, 24_000, 16), b"\x00" * 80), "unsupported sample format"),
    (riff(fmt_chunk(1, 0, 24_000, 16), b"\x00" * 80), "unsupported sample format"),
    (riff(fmt_chunk(1, 1, 24_000, 16), b""), "empty"),
    (riff(fmt_chunk(1, 1, 24_000, 16), b"")[:36], "no data chunk"),
    (b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00\x00\x00\x00\x00", "no fmt chunk"),
])
def test_bad_files_raise_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(RecordingError) as info:
        load_wav(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("which", ["missing", "directory"])
def test_unreadable_paths(tmp_path, which):
    path = tmp_path / "nothing.wav" if which == "missing" else tmp_path
    with pytest.raises(RecordingError, match="cannot read"):
        load_wav(path)


def test_scenario_for_an_empty_recording_is_an_error():
    with pytest.raises(RecordingError, match="recording must last"):
        scenario_for_recording(np.zeros(10, np.float32), "tiny")


# -- recordings placed in a scenario -------------------------------------------------------
def test_place_recordings(tmp_path):
    write_wav(tmp_path / "a.wav", TONE * 0.5)
    mic = place_recordings([(500, "a.wav", 0.0), (2_000, tmp_path / "a.wav", -6.0)], 2_500,
                           base_dir=tmp_path)
    assert len(mic) == 2_500 * 24
    assert not np.any(mic[: 500 * 24])
    assert np.allclose(mic[500 * 24:1_500 * 24], TONE * 0.5, atol=1e-4)
    assert np.allclose(mic[2_000 * 24:], TONE[: 500 * 24] * 0.5 * 10 ** (-6 / 20), atol=1e-4)


# -- vadlock recording ----------------------------------------------------------------------
def test_recording_command(tmp_path, monkeypatch, capsys):
    path = write_wav(tmp_path / "mic.wav", synthetic_mic()[: 4_000 * 24])
    assert run_cli(["recording", str(path), "--json"], monkeypatch) == 0
    import json
    info = json.loads(capsys.readouterr().out)
    assert info["duration_ms"] == 4_000 and info["chunks"] == 40
    assert info["source"] == {"rate": 24_000, "channels": 1, "encoding": "pcm16",
                              "frames": 96_000}
    assert 0 < info["below_gate"] < 40
    assert run_cli(["recording", str(path)], monkeypatch) == 0
    assert "zeroed by the production gate" in capsys.readouterr().out


def test_recording_command_bad_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not audio")
    assert run_cli(["recording", str(path)], monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vadlock recording: error:")
    assert "not a WAV file" in err[0]


def test_audio_scenario_alone_or_added_to_a_scenario(tmp_path):
    path = write_wav(tmp_path / "take1.wav", TONE)
    alone, samples, _ = recording.audio_scenario(path)
    tail = recording.completion_tail_ms(500, alone.response_audio_ms)
    assert tail == 500 + 300 + 4_000 + 1_000  # the rule: a last turn has time to complete
    assert (alone.name, alone.duration_ms, alone.utterances) == ("take1", 1_000 + tail, ())
    assert len(samples) == 24_000
    base = preset("conversation", 30_000)
    mixed, _, _ = recording.audio_scenario(path, base, 12_000)
    assert mixed.utterances == base.utterances and mixed.duration_ms == 12_000
    placed, signal, _ = recording.audio_scenario(path, base, start_ms=29_500, tail_ms=200)
    assert placed.duration_ms == 29_500 + 1_000 + 200  # longer than the scenario's own
    at = 29_500 * audio.SAMPLES_PER_MS
    assert not np.any(signal[:at]) and np.array_equal(signal[at:], samples)
    mic = place_recordings([(0, samples, 0.0)], 2_000)
    assert np.allclose(mic[:24_000], samples) and not np.any(mic[24_000:])


# -- real speech through simulate --audio ------------------------------------------------
def espeak(path, text: str):
    """Real synthesized speech (espeak-ng, installed by the set-up) as a WAV file."""
    import subprocess

    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def test_real_speech_through_audio_is_heard_and_answered(tmp_path, capsys):
    path = espeak(tmp_path / "question.wav", "Hello there. Could you tell me what the "
                  "weather will be like tomorrow in Paris?")
    code = run_cli(["simulate", "--audio", str(path), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["violations"] == {}
    assert summary["utterances"] >= 1  # found by the detector, not scripted
    assert summary["heard"] == summary["utterances"] and summary["answered"] >= 1
    # the session ran on after the recording for the answer to complete
    samples, _ = read_wav(path)
    assert summary["duration_ms"] > len(samples) // audio.SAMPLES_PER_MS


def test_speech_turns_are_found_by_a_real_detector(tmp_path):
    from vadlock.simulator.speech_turns import speech_turns

    one = load_wav(espeak(tmp_path / "one.wav", "Good morning, I would like a table for two."))
    gap = np.zeros(2 * audio.SAMPLE_RATE_HZ, np.float32)
    turns = speech_turns(np.concatenate([one, gap, one]))
    assert len(turns) == 2
    second = turns[1].start_ms - (len(one) + len(gap)) // audio.SAMPLES_PER_MS
    assert -200 <= second <= 300 and turns[0].level_dbfs > -40
    assert speech_turns(np.zeros(audio.SAMPLE_RATE_HZ, np.float32)) == []  # silence: none


def test_a_recording_placed_into_a_scenario_at_a_time(tmp_path, capsys):
    path = espeak(tmp_path / "late.wav", "Are you still there? Please answer me.")
    code = run_cli(["simulate", "--audio", str(path), "--preset", "conversation",
                    "--duration-s", "20", "--audio-start-ms", "25000", "--audio-tail-ms", "8000",
                    "--json"])
    summary = json.loads(capsys.readouterr().out)
    scripted = [u for u in preset("conversation", 20_000).utterances]
    assert summary["utterances"] == len(scripted)  # --duration-s wins: the recording is cut
    code = run_cli(["simulate", "--audio", str(path), "--preset", "conversation",
                    "--audio-start-ms", "62000", "--json"])
    summary = json.loads(capsys.readouterr().out)
    scripted = preset("conversation").utterances
    assert summary["utterances"] == len(scripted) + 1 and summary["duration_ms"] > 62_000
    assert code in (0, 1)


@pytest.mark.parametrize("rate,seconds,expected", [
    (24_000, 0.003, "too short to hold speech"), (1, 200, "sample rate 1 Hz"),
    (1_000_000, 0.5, "sample rate 1000000 Hz")])
def test_a_doubtful_wav_is_refused_in_one_line(rate, seconds, expected, tmp_path, capsys):
    path = write_wav(tmp_path / "odd.wav", np.zeros(int(rate * seconds)), rate)
    assert run_cli(["simulate", "--audio", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0]


def test_recording_command_warns_about_a_doubtful_wav(tmp_path, capsys):
    path = write_wav(tmp_path / "blip.wav", np.zeros(72))  # 3 ms
    assert run_cli(["recording", str(path), "--json"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning" in err[0] and "too short to hold speech" in err[0]
