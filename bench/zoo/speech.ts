/**
 * Real speech for the audio models of the zoo: sentences spoken by `espeak-ng` (apt install espeak-ng),
 * several voices and speeds, resampled to the model's rate. Calibration and evaluation sentences differ.
 * @module
 */

const CALIB = [
  "The quick brown fox jumps over the lazy dog.",
  "Please turn on the lights in the kitchen.",
  "What is the weather going to be like tomorrow?",
  "Set a timer for ten minutes.",
  "Hey Jarvis, play some music.",
  "I would like a cup of coffee with milk.",
  "The meeting starts at half past nine.",
  "Open the window, it is too warm in here.",
  "Remind me to call my mother tonight.",
  "How far is it to the nearest station?",
  "Hello, this is a test of the speech system.",
  "She sells sea shells by the sea shore.",
];
const EVAL = [
  "Can you read me the news headlines?",
  "Turn the volume down a little, please.",
  "Hey Jarvis, what time is it?",
  "My train leaves from platform four.",
  "The library closes early on Sundays.",
  "Add eggs and bread to the shopping list.",
  "It might rain later this afternoon.",
  "Good morning, how did you sleep?",
  "Please lock the front door before leaving.",
  "Hello Deepa, start the washing machine.",
  "Seven people came to the party last night.",
  "Where did I leave my keys?",
];
const VOICES = ["en", "en-us", "en+f3", "en+m3"];

const cache = new Map<string, Float32Array>();

/** Parse a 16-bit PCM mono WAV into floats in [-1, 1) and its sample rate. */
function parseWav(b: Uint8Array): { rate: number; pcm: Float32Array } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = 12, rate = 0;
  while (off + 8 <= b.length) {
    const id = String.fromCharCode(...b.subarray(off, off + 4)), size = v.getUint32(off + 4, true);
    if (id === "fmt ") rate = v.getUint32(off + 12, true);
    if (id === "data") {
      const n = Math.min(size, b.length - off - 8) >> 1;
      const pcm = new Float32Array(n);
      for (let i = 0; i < n; i++) pcm[i] = v.getInt16(off + 8 + 2 * i, true) / 32768;
      return { rate, pcm };
    }
    off += 8 + size;
  }
  throw new SyntaxError("WAV without a data chunk");
}

/** Linear-interpolation resampling (speech content is far below both Nyquist rates). */
function resample(x: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return x;
  const n = Math.floor((x.length * to) / from), out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const p = (i * from) / to, k = Math.floor(p), f = p - k;
    out[i] = (x[k] ?? 0) * (1 - f) + (x[k + 1] ?? 0) * f;
  }
  return out;
}

/**
 * `count` spoken sentences of the calibration or the evaluation list, as mono floats at `rate` Hz.
 *
 * @param set which sentence list
 * @param count how many (the list is cycled with other voices beyond its length)
 * @param rate sample rate
 * @returns one clip per sentence
 */
export async function speech(set: "calib" | "eval", count: number, rate: number): Promise<Float32Array[]> {
  const list = set === "calib" ? CALIB : EVAL;
  const out: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const text = list[i % list.length]!, voice = VOICES[(i + (set === "eval" ? 1 : 0)) % VOICES.length]!;
    const key = `${set}|${i}|${rate}`;
    let clip = cache.get(key);
    if (!clip) {
      const r = await new Deno.Command("espeak-ng", {
        args: ["-v", voice, "-s", String(140 + 10 * (i % 4)), "--stdout", text],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!r.success) {
        throw new Error(`espeak-ng failed (apt install espeak-ng): ${new TextDecoder().decode(r.stderr)}`);
      }
      const w = parseWav(r.stdout);
      clip = resample(w.pcm, w.rate, rate);
      cache.set(key, clip);
    }
    out.push(clip);
  }
  return out;
}
