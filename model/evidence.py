"""Evidence grades: how much each server behaviour, hypothesis and engine is known.

Every entry has a `name`, a `grade` — `documented` (OpenAI's docs or SDK say so),
`measured` (a real detector does it here, and the entry names the test or command that
measures it), `reported` (users or maintainers report it, with links), `analogy` (another
system does it; nothing says OpenAI's does) or `speculative` (no support found) — a
one-line `summary`, and its `sources`: URLs, `owner/repo:path`, or this project's tests.
Sources come from shared/reference (researched, with citations). `vadlock hypotheses`
lists them. Nothing here changes what a machine does; it says how far to trust it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vadlock.model.hypotheses import ENGINES, HYPOTHESES

GRADES = ("documented", "measured", "reported", "analogy", "speculative")
DETECTOR_TESTS = "tests/test_detectors.py"
DOCUMENTED_TESTS = "tests/test_documented_behaviours.py"
NR_TESTS = "tests/test_noise_reduction.py"
VAD_GUIDE = "https://developers.openai.com/api/docs/guides/realtime-vad"
TURN_DETECTION_TYPES = "openai/openai-python:src/openai/types/realtime/realtime_audio_input_turn_detection.py"


@dataclass(frozen=True)
class Evidence:
    name: str
    grade: str
    summary: str
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.grade not in GRADES:
            raise ValueError(f"{self.name}: grade {self.grade!r} is not one of {GRADES}")
        if not self.sources:
            raise ValueError(f"{self.name}: no sources")

    def as_dict(self) -> dict:
        return {**asdict(self), "sources": list(self.sources)}


# -- what the server model does (model/server) -------------------------------------------------
BEHAVIOURS = (
    Evidence("server_vad turn", "documented",
             "speech_started (audio_start_ms includes prefix_padding_ms, default 300) on "
             "speech; speech_stopped after silence_duration_ms (default 500) of silence; "
             "then committed and, with create_response, a response; times are on the "
             "appended-audio timeline.",
             (VAD_GUIDE, TURN_DETECTION_TYPES,
              "openai/openai-python:src/openai/types/realtime/input_audio_buffer_speech_started_event.py")),
    Evidence("server_vad threshold", "documented",
             "A speech probability threshold in 0..1, default 0.5; 'a higher threshold "
             "requires louder audio'. Varied here with --threshold (design variant "
             "+thresholdX.Y); the detector engines apply it to their probability.",
             (TURN_DETECTION_TYPES,
              "twilio-samples/speech-assistant-openai-realtime-api-node#19")),
    Evidence("silence_duration_ms effective 200", "reported",
             "The official example session.created and a forum capture show 200 ms as the "
             "value applied, against the documented 500 (a design variant +silence200ms).",
             ("https://community.openai.com/t/error-turning-turn-detection-off-in-realtime-api/968661",)),
    Evidence("interrupt_response", "documented",
             "speech_started while a response runs cancels it (status cancelled, reason "
             "turn_detected); over WebRTC the server also clears its output buffer.",
             (TURN_DETECTION_TYPES, "https://platform.openai.com/docs/guides/realtime-conversations")),
    Evidence("input_audio_buffer.clear", "documented",
             "Empties the input buffer and is answered by input_audio_buffer.cleared.",
             ("openai/openai-python:src/openai/types/realtime/input_audio_buffer_clear_event.py",
              "https://learn.microsoft.com/en-us/javascript/api/@azure/ai-voicelive/clienteventinputaudiobufferclear")),
    Evidence("clear resets the server's timers", "reported",
             "An OpenAI SDK change says input_audio_buffer.clear resets the server's idle "
             "timer (turning VAD off and on does not): evidence that clear resets turn "
             "state, the model's default.",
             ("https://github.com/openai/openai-agents-js/pull/1346",
              "https://github.com/openai/openai-agents-js/issues/1208")),
    Evidence("idle_timeout_ms", "documented",
             "With server_vad.idle_timeout_ms set, the server emits "
             "input_audio_buffer.timeout_triggered after that long without speech, commits "
             "the quiet segment and responds.",
             (TURN_DETECTION_TYPES,
              "https://learn.microsoft.com/en-us/javascript/api/@azure/ai-projects/realtimeservereventinputaudiobuffertimeouttriggered")),
    Evidence("server VAD needs a continuous stream", "reported",
             "If the client stops appending, speech_stopped never comes: the server must "
             "hear silence to end a turn (why the gates send zeros or comfort noise).",
             ("https://github.com/bielcarpi/hermes-live-voice/issues/55",
              "https://github.com/twilio/twilio-python/issues/927")),
    Evidence("commit needs 100 ms", "reported",
             "A commit of less than 100 ms of audio fails with the error "
             "input_audio_buffer_commit_empty ('Expected at least 100ms of audio'), as "
             "users quote the server.",
             ("https://github.com/betalgo/openai/issues/674",)),
    Evidence("interrupt_response false", "documented",
             "With interrupt_response false, speech_started leaves the running response "
             "alone: it 'will continue until complete' (no cancel; over WebRTC no "
             "output_audio_buffer.cleared, no truncation).",
             (TURN_DETECTION_TYPES,
              f"{DOCUMENTED_TESTS}::test_interrupt_response_false_keeps_the_response_and_the_webrtc_output_buffer")),
    Evidence("idle timeout segment", "documented",
             "The idle timer starts after the last response's playback (response.done time "
             "plus its audio duration); input_audio_buffer.timeout_triggered's "
             "audio_end_ms - audio_start_ms is the quiet segment, about idle_timeout_ms. "
             "One WebSocket user reports only speech_stopped (unconfirmed).",
             ("openai/openai-python:src/openai/types/realtime/input_audio_buffer_timeout_triggered.py",
              TURN_DETECTION_TYPES,
              "https://community.openai.com/t/websocket-cant-distinguish-idle-timeout-from-regular-speech-stopped-is-this-expected/1371509",
              f"{DOCUMENTED_TESTS}::test_idle_timeout_segment_spans_the_timeout_after_the_playback")),
    Evidence("semantic_vad maximum waits", "documented",
             "semantic_vad with eagerness low / medium / high / auto (= medium) ends a turn "
             "at the latest after 8 s / 4 s / 2 s; it has no idle_timeout_ms (server_vad "
             "only). Design variants +semantic-low|medium|high|auto.",
             (VAD_GUIDE, TURN_DETECTION_TYPES,
              f"{DOCUMENTED_TESTS}::test_semantic_vad_ends_the_turn_at_the_eagerness_maximum_wait_in_the_simulator")),
    Evidence("semantic_vad turn model", "analogy",
             "The semantic classifier is unknown. Modelled: speech starts on server_vad's "
             "detector; the end of turn is a declared timer on silent audio after speech "
             "that the explorer may fire at any point up to the maximum wait, and the "
             "simulator fires at the maximum (the worst case).",
             (VAD_GUIDE,
              f"{DOCUMENTED_TESTS}::test_semantic_vad_end_of_turn_is_a_declared_timer_the_explorer_fires_at_any_point")),
    Evidence("input_audio_noise_reduction", "documented",
             "audio.input.noise_reduction {type: near_field | far_field} (null: off, the "
             "default) filters the audio before VAD and the model 'to reduce false "
             "positives'; near_field for headsets, far_field for laptop or room microphones.",
             ("openai/openai-python:src/openai/types/realtime/realtime_audio_config_input.py",
              "openai/openai-python:src/openai/types/realtime/noise_reduction_type.py")),
    Evidence("noise reduction stage (RNNoise)", "analogy",
             "OpenAI's suppressor is unknown; the model runs RNNoise (pyrnnoise's "
             "librnnoise) in front of the server's detector for +nr-near and +nr-far alike. "
             "Measured here: exact zeros stay exact zeros; near-silent capture (int16 peaks "
             "41-96) and -50 dBFS room noise come out near -114 / -130 dBFS (not zeros); "
             "speech at -22 dBFS passes within 3 dB; keyboard clicks stop triggering "
             "noise-as-speech. It passes the simulator's synthetic voice (a vowel per syllable, "
             "a glottal source, consonants) like espeak-ng speech; the earlier single-vowel "
             "voice it learnt as noise within seconds. Refused by the explorer.",
             ("https://pypi.org/project/pyrnnoise/", "https://github.com/xiph/rnnoise",
              f"{NR_TESTS}::test_exact_zeros_stay_exact_zeros",
              f"{NR_TESTS}::test_near_silent_capture_and_room_noise_are_suppressed_to_digital_near_nothing",
              f"{NR_TESTS}::test_speech_at_minus_22_dbfs_passes_within_3_db",
              f"{NR_TESTS}::test_the_server_hears_the_reduced_audio_and_false_turns_from_typing_go",
              f"{NR_TESTS}::test_rnnoise_passes_the_synthetic_voice_and_espeak_speech")),
    Evidence("60-minute session limit", "documented",
             "A session lasts at most 60 minutes (earlier 15 and 30): a declared server "
             "clock timer of 3,600,000 ms. The explorer lets it run out at any point only "
             "with its server fault class.",
             ("https://platform.openai.com/docs/guides/realtime-conversations",
              "https://community.openai.com/t/realtime-api-session-timeout-post-ga/1357331",
              "https://github.com/pipecat-ai/pipecat/issues/3170",
              f"{DOCUMENTED_TESTS}::test_the_session_limit_is_a_declared_clock_timer_that_ends_the_session")),
    Evidence("session_expired error", "reported",
             "At the limit the server sends error code session_expired, 'Your session hit "
             "the maximum duration of 60 minutes.' (third-party captures); that the socket "
             "closes and nothing follows is assumed.",
             ("https://community.openai.com/t/realtime-api-session-expired/975036",
              f"{DOCUMENTED_TESTS}::test_a_session_longer_than_60_minutes_expires_and_production_stays_silent")),
    Evidence("response.done incomplete", "documented",
             "response.done may end with status incomplete, status_details.reason "
             "max_output_tokens or content_filter: the server fault incomplete-response "
             "cuts one response after its first audio (serve: reason=...).",
             ("openai/openai-python:src/openai/types/realtime/realtime_response_status.py",
              "openai/openai-python:src/openai/types/realtime/response_done_event.py",
              f"{DOCUMENTED_TESTS}::test_an_incomplete_response_is_cut_after_its_first_audio_and_says_why")),
    Evidence("pcm16 at 24 kHz", "documented",
             "Input audio is 16-bit mono PCM at 24 kHz, base64 in append events; the "
             "engines resample it to 16 kHz as their detectors need.",
             ("openai/openai-python:src/openai/types/realtime/realtime_audio_formats.py",)),
)

# -- the hypotheses (model/hypotheses.py) ------------------------------------------------------
_HYPOTHESES = (
    Evidence("energy", "documented",
             "The base: the docs say server_vad detects speech 'based on audio volume'. The "
             "principle is documented; its -40 dBFS edge, its periodicity test for "
             "'speech-like', and (as an engine) its mapping of level to probability are "
             "this model's assumptions.",
             (VAD_GUIDE, "https://docs.rs/crate/openai-client-base/latest/source/docs/ServerVad.md")),
    Evidence("zero-skip", "analogy",
             "Exact zeros neither count as speech nor advance the silence timer. Analogy: "
             "WebRTC VAD skips its model update on frames at or below kMinEnergy, and a "
             "DTX gap carries no audio. Measured against it at the detector level: Silero, "
             "WebRTC VAD and TEN VAD all return non-speech on exact zeros from the first "
             "frame and hear speech again after them.",
             ("wiseman/py-webrtcvad:cbits/webrtc/common_audio/vad/vad_core.c",
              "https://github.com/snakers4/silero-vad/issues/396",
              f"{DETECTOR_TESTS}::test_after_a_run_of_exact_zeros_no_real_detector_stays_in_speech")),
    Evidence("floor-adapt", "analogy",
             "An adaptive noise floor (WebRTC VAD's minimum tracker, smoothing 0.2 falling "
             "/ 0.99 rising, frozen by zeros) with invented band timings. Its artefact is "
             "fixed: the floor raises the bar for quiet speech only up to the base edge, so "
             "speech at or above -40 dBFS always counts. The real adaptive floor runs as "
             "the webrtc-vad engine.",
             ("wiseman/py-webrtcvad:cbits/webrtc/common_audio/vad/vad_sp.c",
              "tests/test_machines.py::test_floor_adapt_is_never_deaf_to_speech_at_the_base_edge")),
    Evidence("deadband", "analogy",
             "Silero-style hysteresis: in speech, probabilities in [threshold - 0.15, "
             "threshold) neither end speech nor advance the silence timer. It is what "
             "silero-vad's VADIterator does (and LiveKit's Silero plugin); nothing says "
             "OpenAI's server does. Combines with any engine.",
             ("snakers4/silero-vad:src/silero_vad/utils_vad.py",
              "livekit/agents:livekit-plugins/livekit-plugins-silero")),
    Evidence("clear-keeps-vad", "speculative",
             "input_audio_buffer.clear empties the buffer but leaves the VAD in speech. No "
             "source supports it, and the only evidence found is against it: clear resets "
             "the server's timers (openai-agents-js#1346).",
             ("https://github.com/openai/openai-agents-js/pull/1346",
              "openai/openai-python:src/openai/types/realtime/input_audio_buffer_clear_event.py")),
    Evidence("noise-as-speech", "reported",
             "Keyboard transients at or above -40 dBFS taken for speech. Users report "
             "noise-triggered speech_started; measured of WebRTC VAD on synthetic typing "
             "in `vadlock calibrate` (the keyboard row).",
             ("https://github.com/twilio-samples/speech-assistant-openai-realtime-api-node/issues/19",
              "https://github.com/deepgram/deepgram-python-sdk/issues/403",
              "analysis/calibrate.py (vadlock calibrate)")),
)

# -- the detector engines (simulator/detectors) ------------------------------------------------
_ENGINES = (
    Evidence("silero", "measured",
             "Silero VAD v6 (ONNX, 32 ms windows, held onto the 10 ms grid) run on the "
             "audio the server received. Its behaviour is measured here (zeros, "
             "near-silence, speech 40-60 dB down); that OpenAI's server uses it is not "
             "known (it is the default VAD of Pipecat and LiveKit). It takes the presets' "
             "synthetic voice for speech (68% of frames at -22 dBFS; less for the highest "
             "voices).",
             ("snakers4/silero-vad:src/silero_vad/utils_vad.py",
              f"{DETECTOR_TESTS}::test_speech_attenuated_by_40_to_60_db",
              f"{DETECTOR_TESTS}::test_silero_takes_the_synthetic_voice_for_speech",
              "vadlock calibrate")),
    Evidence("webrtc-vad", "measured",
             "WebRTC's GMM VAD (mode 0-3, default 2) with its real adaptive noise floor, "
             "hangover and zero-frame skip; p in {0, 1}. Measured here; not known to be "
             "OpenAI's.",
             ("wiseman/py-webrtcvad:cbits/webrtc/common_audio/vad/vad_core.c",
              f"{DETECTOR_TESTS}::test_near_silent_capture_is_not_speech_to_any_real_detector",
              "vadlock calibrate")),
    Evidence("ten", "measured",
             "TEN VAD (10 ms hop at 16 kHz), where its library loads. Measured here: the "
             "most sensitive of the three to attenuated speech (most of it 50 dB down). "
             "Not known to be OpenAI's.",
             ("https://pypi.org/project/ten-vad/",
              f"{DETECTOR_TESTS}::test_speech_attenuated_by_40_to_60_db", "vadlock calibrate")),
)

HYPOTHESIS_EVIDENCE = {e.name: e for e in _HYPOTHESES}
ENGINE_EVIDENCE = {e.name: e for e in _ENGINES}
assert set(HYPOTHESIS_EVIDENCE) == set(HYPOTHESES), "every hypothesis carries a grade"
assert set(ENGINE_EVIDENCE) | {"energy"} == set(ENGINES), "every engine carries a grade"

SECTIONS = (("server behaviours", BEHAVIOURS), ("hypotheses", _HYPOTHESES),
            ("detector engines", _ENGINES))


def entries() -> list[Evidence]:
    """Every graded entry: behaviours, hypotheses, engines (`energy` is both a hypothesis
    and an engine, listed once)."""
    return [e for _, section in SECTIONS for e in section]
