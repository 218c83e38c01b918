// vadlock reference client: the page. Loads the design named in the URL
// (`/?design=recommended`, served by `vadlock serve --page`), wires microphone, worklets and
// the WebSocket, and shows the client's state. `window.vadlock` exposes the client, its wire
// log and the capture handles, so a test can read the log and inject capture faults.
import { SAMPLE_RATE_HZ, VoiceClient } from "./client.js";

const params = new URLSearchParams(location.search);
const designName = params.get("design") || "recommended";
const stateEl = document.getElementById("state");
const noticesEl = document.getElementById("notices");
const designEl = document.getElementById("design");

function show(state, notice) {
  stateEl.textContent = state;
  stateEl.dataset.state = state;
  stateEl.className = `state ${state}`;
  if (notice) {
    const li = document.createElement("li");
    li.textContent = notice;
    noticesEl.prepend(li);
  }
}

async function openMicrophone(ctx, capture) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false,
             autoGainControl: false },
  });
  const source = ctx.createMediaStreamSource(stream);
  source.connect(capture);
  return { stream, source, track: stream.getAudioTracks()[0] };
}

async function main() {
  const design = await (await fetch(`/design/${encodeURIComponent(designName)}.json`)).json();
  designEl.textContent = `${design.name}: ${design.summary || ""}`;
  const ctx = new AudioContext({ sampleRate: SAMPLE_RATE_HZ });
  await ctx.audioWorklet.addModule("capture-worklet.js");
  await ctx.audioWorklet.addModule("player-worklet.js");
  const client = new VoiceClient(design, {
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/realtime?model=vadlock`,
    onState: show,
  });
  const capture = new AudioWorkletNode(ctx, "vadlock-capture", {
    processorOptions: { chunkSamples: client.chunkSamples },
  });
  capture.port.onmessage = (e) => client.onChunk(e.data);
  const player = new AudioWorkletNode(ctx, "vadlock-player");
  player.port.onmessage = (e) => client.onPlayed(e.data);
  player.connect(ctx.destination);
  client.player = player;
  let mic = await openMicrophone(ctx, capture);
  // re-acquire: a fresh getUserMedia track and a resumed context (the capture-health fix)
  client.onReacquire = async () => {
    mic.source.disconnect();
    mic.track.stop();
    if (ctx.state !== "running") await ctx.resume();
    mic = await openMicrophone(ctx, capture);
    window.vadlock.mic = mic;
  };
  setInterval(() => client.tick(), design.chunk_ms);
  await ctx.resume();
  window.vadlock = { client, ctx, mic, design, ready: true };
  await client.start();
}

window.vadlock = { ready: false };
main().catch((err) => {
  show("failed", String(err));
  window.vadlock.error = String(err);
});
