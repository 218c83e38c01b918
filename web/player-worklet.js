// vadlock reference client: the playback AudioWorklet.
// Plays queued response audio in real time and counts the samples actually played, so an
// interruption truncates at what the user heard (not at wall-clock time, a known bug class).
// Messages in: {queue: Float32Array, item: id} | {flush: true}. Out: {played, item, drained}.
class PlayerProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.head = 0; // read position in queue[0]
    this.item = null;
    this.played = 0; // samples of `item` played so far
    this.sinceReport = 0;
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.flush) {
        this.queue = [];
        this.head = 0;
        this.port.postMessage({ played: this.played, item: this.item, drained: true });
        return;
      }
      if (m.item !== this.item) {
        this.item = m.item;
        this.played = 0;
      }
      this.queue.push(m.queue);
    };
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let i = 0;
    const wasPlaying = this.queue.length > 0;
    while (i < out.length && this.queue.length > 0) {
      const chunk = this.queue[0];
      const n = Math.min(out.length - i, chunk.length - this.head);
      out.set(chunk.subarray(this.head, this.head + n), i);
      i += n;
      this.head += n;
      this.played += n;
      if (this.head === chunk.length) {
        this.queue.shift();
        this.head = 0;
      }
    }
    for (; i < out.length; i++) out[i] = 0;
    this.sinceReport += out.length;
    if (wasPlaying && this.queue.length === 0) {
      this.port.postMessage({ played: this.played, item: this.item, drained: true });
    } else if (wasPlaying && this.sinceReport >= 1024) {
      this.port.postMessage({ played: this.played, item: this.item, drained: false });
      this.sinceReport = 0;
    }
    return true;
  }
}

registerProcessor("vadlock-player", PlayerProcessor);
