import { assertEquals, assertThrows } from "@std/assert";
import { shiftExpParams } from "./shiftmax.ts";
import { shiftSigmoid, shiftSwish, sigmoidFraction } from "./shiftsigmoid.ts";

Deno.test("sigmoidFraction: symmetric sigmoid(-x) = 1 - sigmoid(x) up to 1 LSB, exact 1/2 at 0", () => {
  const p = 16, n = 11, k = 15;
  assertEquals(sigmoidFraction(0, p, n, 0, k), 2 ** 14);
  for (let x = 1; x < 300; x++) {
    const s = sigmoidFraction(x, p, n, 0, k) + sigmoidFraction(-x, p, n, 0, k);
    assertEquals(s === 2 ** 15 || s === 2 ** 15 - 1, true, `x ${x}: ${s}`);
  }
});

Deno.test("shiftSigmoid vs float sigmoid: every int8 input within 3 LSB at 2^-7 (2^-15 for int16 out)", () => {
  const scale = 1 / 16;
  const x = new Int8Array(256).map((_, i) => i - 128);
  for (const expShift of [0, "auto"] as const) {
    const prm = shiftExpParams(scale, { expShift, maxE0: Math.floor((2 ** 31 - 1) / 2 ** 7) });
    const y = shiftSigmoid(x, { p: prm.p, n: prm.n, expShift: prm.expShift });
    let maxErr = 0;
    for (let i = 0; i < 256; i++) {
      maxErr = Math.max(maxErr, Math.abs(y[i]! - Math.min(127, 128 / (1 + Math.exp(-x[i]! * scale)))));
    }
    // measured 2.9 LSB (plain p = 16) and 2.1 LSB (auto: p = 64, shift 2): the 1 - f/2 chord of 2^-f
    assertEquals(maxErr < 3, true, `expShift ${expShift}: ${maxErr}`);
  }
  const y16 = shiftSigmoid(new Int16Array([0, 32767, -32768]), { p: 16, n: 1, outputBits: 16 });
  assertEquals(Array.from(y16), [16384, 32767, 0]);
  assertThrows(() => shiftSigmoid(x, { p: 16, n: 21 }), RangeError);
});

Deno.test("shiftSwish: x * sigmoid(x) within 1.5 LSB of float Swish on int8 at scale 1/16", () => {
  const scale = 1 / 16;
  const x = new Int8Array(256).map((_, i) => i - 128);
  const prm = shiftExpParams(scale, { maxE0: 65535 });
  const y = shiftSwish(x, { p: prm.p, n: prm.n });
  let maxErr = 0;
  for (let i = 0; i < 256; i++) {
    const v = x[i]! * scale;
    maxErr = Math.max(maxErr, Math.abs(y[i]! - v / (1 + Math.exp(-v)) / scale));
  }
  assertEquals(maxErr < 1.5, true, `max ${maxErr}`);
});
