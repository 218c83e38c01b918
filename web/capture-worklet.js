// vadlock reference client: the capture AudioWorklet.
// Gathers the render quantum's 128-sample blocks into chunks of `chunkSamples` and posts each
// chunk (Float32, mono) to the main thread, which gates, encodes and sends it — the same
// split as the field report's client (worklet captures, main thread decides).
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.chunkSamples = options.processorOptions.chunkSamples;
    this.buffer = new Float32Array(this.chunkSamples);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0];
    // no actively processing source: inputs[0] has zero channels (the spec); nothing captured
    if (!input || input.length === 0) return true;
    const samples = input[0];
    let offset = 0;
    while (offset < samples.length) {
      const n = Math.min(samples.length - offset, this.chunkSamples - this.filled);
      this.buffer.set(samples.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.chunkSamples) {
        this.port.postMessage(this.buffer.slice(0));
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("vadlock-capture", CaptureProcessor);
