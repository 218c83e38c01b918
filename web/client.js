// vadlock reference client: one browser voice client, configured by a vadlock design.
//
// The same behaviour as the model's client (vadlock.model.client), written as a browser app
// would write it: capture through an AudioWorklet, chunking, the design's VAD gate (zeros or
// comfort noise, hangover, pre-roll, lag), playback and interruption with truncation, the
// stuck-VAD watchdog, and the fixes — liveness watchdog ladder (session.update -> commit or
// clear -> reconnect with conversation replay), capture-health watchdog (re-acquire the
// microphone / resume the AudioContext). Every wire event both ways is kept in `log` in the
// `vadlock simulate --out` shape, for `vadlock replay`.
//
// Levels are float RMS of the captured chunk, compared with the design's own thresholds, as
// the model's frame symbols are. Timers that the model runs on the audio clock (liveness,
// capture health, hangover) count chunk durations here too; the stuck-VAD watchdog is a
// setTimeout, as in the field report's code.

export const SAMPLE_RATE_HZ = 24000;
export const NEAR_SILENT_RMS = 0.0015; // vadlock.model.symbols.NEAR_SILENT_RMS
export const MIN_COMMIT_MS = 100;
const REPLAY_MAX_ITEMS = 40;

export function rms(samples) {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / Math.max(1, samples.length));
}

export function toPcm16Base64(samples) {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(i * 2, Math.round(s * 32767), true);
  }
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromPcm16Base64(b64) {
  const binary = atob(b64);
  const n = binary.length >> 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = binary.charCodeAt(2 * i) | (binary.charCodeAt(2 * i + 1) << 8);
    if (v >= 0x8000) v -= 0x10000;
    out[i] = v / 32768;
  }
  return out;
}

// Pink-ish comfort noise at a level in dBFS (Voss-McCartney, seeded: deterministic per client).
export function comfortNoise(nSamples, levelDbfs, state) {
  const out = new Float32Array(nSamples);
  const target = Math.pow(10, levelDbfs / 20);
  for (let i = 0; i < nSamples; i++) {
    state.seed = (state.seed * 1664525 + 1013904223) >>> 0;
    const white = state.seed / 4294967296 - 0.5;
    state.b0 = 0.99765 * state.b0 + white * 0.099046;
    state.b1 = 0.963 * state.b1 + white * 0.2965164;
    state.b2 = 0.57 * state.b2 + white * 1.0526913;
    out[i] = state.b0 + state.b1 + state.b2 + white * 0.1848;
  }
  const scale = target / Math.max(1e-9, rms(out));
  for (let i = 0; i < nSamples; i++) out[i] *= scale;
  return out;
}

// -- the machines, as small tables of the model's states ----------------------------------

// VadGate (vadlock.model.client.gate): passing | hangover | zeroing.
export class VadGate {
  constructor(gate, chunkMs) {
    this.mode = gate.mode; // off | zeros | comfort_noise
    this.thresholdRms = gate.threshold_rms;
    this.lagChunks = gate.lag_chunks;
    this.hangoverMs = gate.hangover_ms;
    this.chunkMs = chunkMs;
    this.state = "passing";
    this.hangoverLeftMs = 0;
  }
  // Feed one chunk's RMS; returns "raw" | "zeros" | "comfort_noise".
  chunk(level) {
    if (this.mode === "off") return "raw";
    const before = this.state;
    if (level >= this.thresholdRms) {
      this.state = "passing";
      this.hangoverLeftMs = this.hangoverMs;
    } else if (this.state === "passing") {
      if (this.hangoverMs > 0) {
        this.state = "hangover";
        this.hangoverLeftMs = this.hangoverMs;
      } else {
        this.state = "zeroing";
      }
    } else if (this.state === "hangover") {
      if (this.hangoverLeftMs <= this.chunkMs) this.state = "zeroing";
      else this.hangoverLeftMs -= this.chunkMs;
    }
    const deciding = this.lagChunks ? before : this.state;
    if (deciding !== "zeroing") return "raw";
    return this.mode === "comfort_noise" ? "comfort_noise" : "zeros";
  }
}

export class VoiceClient {
  constructor(design, { url, onState = () => {}, now = () => performance.now() }) {
    this.design = design;
    this.url = url;
    this.onState = onState;
    this.now = now;
    this.t0 = now();
    this.log = []; // the wire, both ways: {t_ms, direction, event} (`vadlock simulate --out`)
    // everything the client saw, in order: the wire plus each captured chunk's level
    // ({t_ms, capture: {rms, exact_zero, ms}}, or {t_ms, capture: null} for a chunk period in
    // which the AudioContext delivered nothing) — what `vadlock conform` drives the model with
    this.journal = [];
    this.notices = [];
    this.chunkSamples = (design.chunk_ms * SAMPLE_RATE_HZ) / 1000;
    this.gate = new VadGate(design.gate, design.chunk_ms);
    this.noiseState = { seed: 12345, b0: 0, b1: 0, b2: 0 };
    this.prerollLine = []; // {samples, level}
    this.micLevel = 0; // lastMicrophoneEnergy
    this.appendedSinceCommitMs = 0;
    this.beliefs = "listening"; // listening | user_speaking | awaiting_response | responding
    this.stuckTimer = null;
    this.ladder = "watching"; // watching | resyncing | clearing | reconnecting
    this.unansweredMs = 0;
    this.healthSilentMs = 0;
    this.chunksSinceTick = 0;
    this.lastChunkMs = 0;
    this.conversation = []; // roles of finished items
    this.replaying = 0;
    this.playingItem = null;
    this.playedSamples = 0;
    this.playing = false;
    this.socket = null;
    this.connected = false;
    this.started = false; // capture counts from the first session.update on
    this.pending = [];
    this.surfaced = "connecting";
  }

  // -- wire ----------------------------------------------------------------------------
  tMs() {
    return Math.round(this.now() - this.t0);
  }
  // While a reconnect is under way, events wait for the new socket (as the model's client
  // hands them to a transport that is already there).
  send(event) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      if (this.started) this.pending.push(event);
      return;
    }
    const record = { t_ms: this.tMs(), direction: "client_to_server", event };
    this.log.push(record);
    this.journal.push(record);
    this.socket.send(JSON.stringify(event));
  }
  turnDetection() {
    return this.design.turn_detection;
  }
  sessionUpdate() {
    return {
      type: "session.update",
      session: {
        type: "realtime",
        output_modalities: ["audio"],
        audio: {
          input: { format: { type: "audio/pcm", rate: SAMPLE_RATE_HZ },
                   turn_detection: this.turnDetection() },
          output: { format: { type: "audio/pcm", rate: SAMPLE_RATE_HZ } },
        },
      },
    };
  }
  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this.socket = socket;
      socket.onopen = () => {
        this.connected = true;
        const pending = this.pending;
        this.pending = [];
        pending.forEach((e) => this.send(e));
        this.surface("connected");
        resolve();
      };
      socket.onerror = (e) => reject(e);
      socket.onclose = () => {
        if (this.socket === socket) {
          this.connected = false;
          this.surface("disconnected");
        }
      };
      socket.onmessage = (m) => {
        if (this.socket !== socket) return; // a replaced connection's last words
        let event;
        try {
          event = JSON.parse(m.data);
        } catch (err) {
          return;
        }
        const record = { t_ms: this.tMs(), direction: "server_to_client", event };
        this.log.push(record);
        this.journal.push(record);
        this.receive(event);
      };
    });
  }
  async start() {
    await this.connect();
    this.send(this.sessionUpdate());
    this.started = true;
  }

  surface(state, notice) {
    this.surfaced = state;
    if (notice) this.notices.push({ t_ms: this.tMs(), notice });
    this.onState(state, notice);
  }

  // -- capture ---------------------------------------------------------------------------
  // One chunk from the capture worklet.
  onChunk(samples) {
    if (!this.started) return;
    this.chunksSinceTick += 1;
    this.lastChunkMs = this.tMs();
    const level = rms(samples);
    this.journal.push({ t_ms: this.tMs(), capture: {
      rms: level, exact_zero: samples.every((x) => x === 0), ms: this.design.chunk_ms } });
    this.health(level);
    this.micLevel = level;
    const line = [...this.prerollLine, { samples, level }];
    const preroll = this.gate.mode === "off" ? 0 : this.design.gate.preroll_chunks;
    if (line.length <= preroll) {
      this.prerollLine = line;
      return;
    }
    const sent = line.shift();
    this.prerollLine = line;
    const mode = this.gate.chunk(Math.max(sent.level, ...line.map((c) => c.level)));
    let wire = sent.samples;
    if (mode === "zeros") wire = new Float32Array(sent.samples.length);
    if (mode === "comfort_noise")
      wire = comfortNoise(sent.samples.length, this.design.gate.comfort_noise_dbfs, this.noiseState);
    this.appendedSinceCommitMs += this.design.chunk_ms;
    this.send({ type: "input_audio_buffer.append", audio: toPcm16Base64(wire) });
    this.liveness(this.design.chunk_ms,
      mode === "raw" && sent.level >= this.design.gate.threshold_rms &&
      this.beliefs !== "user_speaking");
  }

  // Called every chunk period by a timer: a suspended AudioContext delivers no chunks,
  // which the capture-health watchdog counts as near-silent input. A period counts as
  // empty only when no chunk came for two periods (worklet messages jitter by a few ms).
  tick() {
    if (!this.started) return;
    if (this.chunksSinceTick === 0 && this.tMs() - this.lastChunkMs > 2 * this.design.chunk_ms) {
      this.journal.push({ t_ms: this.tMs(), capture: null });
      this.health(null);
    }
    this.chunksSinceTick = 0;
  }

  health(level) {
    const timeoutMs = this.design.capture_health_ms;
    if (!timeoutMs) return;
    if (level !== null && level >= NEAR_SILENT_RMS) {
      this.healthSilentMs = 0;
      return;
    }
    this.healthSilentMs += this.design.chunk_ms;
    if (this.healthSilentMs >= timeoutMs) {
      this.healthSilentMs = 0;
      this.surface("degraded", "microphone silent: re-acquiring capture");
      if (this.onReacquire) this.onReacquire();
    }
  }

  // -- liveness ladder ------------------------------------------------------------------
  liveness(durationMs, speechLevel) {
    const cfg = this.design.liveness;
    if (!cfg || !speechLevel) return;
    this.unansweredMs += durationMs;
    const due = this.ladder === "watching" ? cfg.first_rung_ms : cfg.next_rung_ms;
    if (this.unansweredMs < due) return;
    this.unansweredMs = 0;
    if (this.ladder === "watching") {
      this.ladder = "resyncing";
      this.surface("recovering", "recovering: re-applying turn_detection");
      this.send(this.sessionUpdate());
    } else if (this.ladder === "resyncing") {
      this.ladder = "clearing";
      this.surface("recovering", "recovering: committing or clearing the input buffer");
      this.send({ type: this.appendedSinceCommitMs >= MIN_COMMIT_MS
        ? "input_audio_buffer.commit" : "input_audio_buffer.clear" });
    } else {
      this.ladder = "reconnecting";
      this.surface("recovering", "recovering: reconnecting with conversation replay");
      this.reconnect();
    }
  }

  async reconnect() {
    const old = this.socket;
    this.socket = null;
    if (old) old.close();
    this.beliefs = "listening";
    this.flushPlayback();
    this.disarmStuck();
    this.appendedSinceCommitMs = 0;
    const opened = this.connect();
    const replay = this.conversation.slice(-REPLAY_MAX_ITEMS);
    this.replaying = replay.length;
    this.send(this.sessionUpdate());
    replay.forEach((role, i) => {
      this.send({
        type: "conversation.item.create",
        item: { type: "message", role,
                content: [{ type: role === "user" ? "input_text" : "output_text",
                            text: `(${role} turn ${i + 1}, replayed)` }] },
      });
    });
    await opened;
  }

  // -- server events --------------------------------------------------------------------
  receive(event) {
    const kind = event.type;
    const turnEvents = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
      "input_audio_buffer.timeout_triggered", "response.created", "response.done"];
    if (turnEvents.includes(kind)) {
      this.ladder = "watching";
      this.unansweredMs = 0;
      if (this.surfaced === "recovering" || this.surfaced === "degraded" ||
          this.surfaced === "connected") this.surface("listening");
    }
    switch (kind) {
      case "input_audio_buffer.speech_started":
        this.beliefs = "user_speaking";
        this.armStuck();
        if (this.playing && this.micLevel >= this.design.interrupt_rms) this.interrupt();
        break;
      case "input_audio_buffer.speech_stopped":
        if (this.beliefs === "user_speaking") this.beliefs = "awaiting_response";
        this.disarmStuck();
        break;
      case "input_audio_buffer.committed":
      case "input_audio_buffer.timeout_triggered":
        this.appendedSinceCommitMs = 0;
        break;
      case "input_audio_buffer.cleared":
        this.appendedSinceCommitMs = 0;
        if (this.beliefs === "user_speaking") this.beliefs = "listening";
        break;
      case "response.created":
        this.beliefs = "responding";
        break;
      case "response.output_audio.delta":
        this.queueAudio(event.item_id, fromPcm16Base64(event.delta));
        break;
      case "response.done":
        if (this.beliefs === "responding") this.beliefs = "listening";
        break;
      case "conversation.item.done": {
        const role = event.item && event.item.role;
        if (role === "user" || role === "assistant") {
          if (this.replaying) this.replaying -= 1;
          else this.conversation.push(role);
        }
        break;
      }
      default:
        break;
    }
  }

  armStuck() {
    this.disarmStuck();
    if (!this.design.stuck_vad_watchdog_ms) return;
    this.stuckTimer = setTimeout(() => {
      this.stuckTimer = null;
      this.send({ type: "input_audio_buffer.clear" });
    }, this.design.stuck_vad_watchdog_ms);
  }
  disarmStuck() {
    if (this.stuckTimer !== null) clearTimeout(this.stuckTimer);
    this.stuckTimer = null;
  }

  // -- playback (the player worklet reports what was really played) ----------------------
  queueAudio(itemId, samples) {
    if (itemId !== this.playingItem) {
      this.playingItem = itemId;
      this.playedSamples = 0;
    }
    this.playing = true;
    if (this.player) this.player.port.postMessage({ queue: samples, item: itemId });
  }
  onPlayed(report) {
    if (report.item === this.playingItem) this.playedSamples = report.played;
    if (report.drained) this.playing = false;
  }
  flushPlayback() {
    this.playing = false;
    if (this.player) this.player.port.postMessage({ flush: true });
  }
  interrupt() {
    const playedMs = Math.floor((this.playedSamples * 1000) / SAMPLE_RATE_HZ);
    this.flushPlayback();
    if (this.playingItem) {
      this.send({ type: "conversation.item.truncate", item_id: this.playingItem,
                  content_index: 0, audio_end_ms: playedMs });
    }
  }
}
