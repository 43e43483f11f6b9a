import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { mulberry32 } from "../quant/_rng.ts";
import { type BlockwiseFit, type BlockwiseJob, GPTQ_TASK } from "../passes/weightonly/weight_only_task.ts";
import { WorkerPool } from "./pool.ts";
import type { PoolJob } from "./runtime.ts";

/** A GPTQ layer with a random weight and a random positive-definite Hessian. */
function layer(seed: number, k: number, n: number): { w: Float32Array; h: Float64Array } {
  const r = mulberry32(seed);
  const w = Float32Array.from({ length: k * n }, () => r() - 0.5);
  const rows = 4 * k, x = Float64Array.from({ length: rows * k }, () => r() - 0.5);
  const h = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < rows; t++) s += x[t * k + i]! * x[t * k + j]!;
      h[i * k + j] = s / rows;
    }
  }
  return { w, h };
}

function jobs(layers: { w: Float32Array; h: Float64Array }[], k: number, n: number): PoolJob<BlockwiseJob>[] {
  return layers.map(({ w, h }, i) => ({
    label: `layer${i}`,
    weights: k * n,
    bytes: 4 * k * n + 8 * k * k,
    args: (onWorker) => {
      const weight = onWorker ? w.slice() : w, hessian = onWorker ? h.slice() : h;
      return {
        args: { weight, k, n, hessian, options: { bits: 3, groupSize: 16 }, dequantized: true },
        ...(onWorker ? { transfer: [weight.buffer as ArrayBuffer, hessian.buffer as ArrayBuffer] } : {}),
      };
    },
  }));
}

async function run(pool: WorkerPool, js: PoolJob<BlockwiseJob>[]): Promise<BlockwiseFit[]> {
  const out: BlockwiseFit[] = [];
  await pool.map({ ...GPTQ_TASK, minWeights: 0 }, js, (r, i) => {
    assertEquals(i, out.length, "results arrive in job order");
    out.push(r);
  });
  return out;
}

Deno.test("WorkerPool: GPTQ layers on 2 workers equal the serial fits bit for bit, in job order", async () => {
  const k = 64, n = 24;
  const ls = [1, 2, 3, 4, 5].map((s) => layer(s, k, n));
  const serial = new WorkerPool({ threads: 1 });
  const pool = new WorkerPool({ threads: 2 });
  try {
    const a = await run(serial, jobs(ls, k, n));
    const b = await run(pool, jobs(ls, k, n));
    for (let i = 0; i < ls.length; i++) {
      assertEquals(b[i]!.codes, a[i]!.codes);
      assertEquals(b[i]!.scales, a[i]!.scales);
      assertEquals(b[i]!.zeroPoints, a[i]!.zeroPoints);
      assertEquals(b[i]!.dequantized, a[i]!.dequantized);
      assertEquals(b[i]!.stats, a[i]!.stats);
    }
    const s = pool.summary();
    assertEquals([s.threads, s.workers, s.parallelJobs, s.serialJobs, s.serialReasons], [2, 2, 5, 0, []]);
    assert(s.startupMs !== undefined && s.startupMs > 0);
    assertEquals(serial.summary().serialReasons, ["1 thread asked (5 jobs)"]);
  } finally {
    pool.close();
    serial.close();
  }
});

Deno.test("WorkerPool: the costliest jobs start first, results still come in job order, equal to serial", async () => {
  const shapes = [[16, 8], [96, 48], [32, 16], [128, 64], [48, 8]] as const;
  const ls = shapes.map(([k, n], i) => ({ k, n, ...layer(10 + i, k, n) }));
  const mk = (): PoolJob<BlockwiseJob>[] =>
    ls.map(({ k, n, w, h }, i) => ({ ...jobs([{ w, h }], k, n)[0]!, label: `layer${i}`, cost: k * k * n }));
  const started: string[] = [];
  const pool = new WorkerPool({ threads: 2 });
  try {
    const want = await run(new WorkerPool({ threads: 1 }), mk());
    const got = await run(
      pool,
      mk().map((j) => ({
        ...j,
        args: (onWorker: boolean) => (started.push(j.label), j.args(onWorker)),
      })),
    );
    assertEquals(started, ["layer3", "layer1", "layer4", "layer2", "layer0"]); // by K² N
    assertEquals(got.map((r) => [r.rows, r.cols]), shapes.map(([k, n]) => [k, n]));
    for (let i = 0; i < ls.length; i++) assertEquals(got[i]!.codes, want[i]!.codes);
  } finally {
    pool.close();
  }
});

Deno.test("WorkerPool: a transferred buffer moves to the worker (detached here)", async () => {
  const k = 32, n = 8;
  const { w, h } = layer(7, k, n);
  const sent: Float32Array[] = [];
  const pool = new WorkerPool({ threads: 2 });
  try {
    const js = jobs([{ w, h }, { w, h }, { w, h }], k, n).map((j) => ({
      ...j,
      args: (onWorker: boolean) => {
        const a = j.args(onWorker);
        if (onWorker) sent.push(a.args.weight);
        return a;
      },
    }));
    await run(pool, js);
    assertEquals(sent.map((x) => x.byteLength), [0, 0, 0]);
    assertEquals(w.byteLength, 4 * k * n); // the caller's own array was copied, not moved
  } finally {
    pool.close();
  }
});

Deno.test("WorkerPool: a worker's error rejects with the layer's name and the error's class", async () => {
  const k = 32, n = 8;
  const ls = [layer(1, k, n), layer(2, k, n), layer(3, k, n)];
  const js = jobs(ls, k, n);
  const good = js[1]!;
  js[1] = { ...good, args: () => ({ args: { ...good.args(true).args, k: 31 } }) }; // 31 x 8 != 256 entries
  const pool = new WorkerPool({ threads: 2 });
  try {
    await assertRejects(() => run(pool, js), TypeError, "layer1: Cannot quantize a 31x8 weight");
  } finally {
    pool.close();
  }
});

Deno.test("WorkerPool: falls back to the serial path and says why", async () => {
  const k = 32, n = 8;
  const ls = [layer(1, k, n), layer(2, k, n)];
  const want = await run(new WorkerPool({ threads: 1 }), jobs(ls, k, n));
  // work below the task's threshold: no worker starts
  const small = new WorkerPool({ threads: 2 });
  const got: BlockwiseFit[] = [];
  await small.map(GPTQ_TASK, jobs(ls, k, n), (r) => got.push(r));
  small.close();
  assertEquals(got.map((r) => r.codes), want.map((r) => r.codes));
  assertEquals(small.summary().workers, 0);
  assertEquals(small.summary().serialReasons, [
    `blockwiseLayer: ${
      2 * k * n
    } weights, below the ${GPTQ_TASK.minWeights} that pay for starting workers (2 jobs)`,
  ]);
  // jobs too large to copy to a worker: in this thread, in order, each named with its size
  const capped = new WorkerPool({ threads: 2, copyBudget: 2 ** 21 });
  const three = [...ls, layer(3, k, n)];
  const big = jobs(three, k, n).map((j, i) => ({ ...j, bytes: i === 1 ? 3 * 2 ** 20 : j.bytes }));
  const mixed: BlockwiseFit[] = [];
  await capped.map({ ...GPTQ_TASK, minWeights: 0 }, big, (r) => mixed.push(r));
  const allBig = big.map((j) => ({ ...j, bytes: 2 ** 21 }));
  await capped.map({ ...GPTQ_TASK, minWeights: 0 }, allBig, () => {});
  capped.close();
  const wantThree = await run(new WorkerPool({ threads: 1 }), jobs(three, k, n));
  assertEquals(mixed.map((r) => r.codes), wantThree.map((r) => r.codes));
  const c = capped.summary();
  assertEquals([c.workers, c.parallelJobs, c.serialJobs], [2, 2, 4]);
  assertEquals(c.serialReasons, [
    "layer1: 3.0 MiB to copy to a worker, above the 1.0 MiB a job may take (1 job)",
    "2.0 MiB or more to copy to a worker per job, above the 1.0 MiB a job may take (3 jobs)",
  ]);
  // a worker module that fails to load (as a bundle without it would): serial, with the worker's error
  const broken = new WorkerPool({
    threads: 2,
    workerUrl: `data:text/javascript,${encodeURIComponent('throw new Error("no worker module here")')}`,
  });
  try {
    const out = await run(broken, jobs(ls, k, n));
    assertEquals(out.map((r) => r.codes), want.map((r) => r.codes));
    const s = broken.summary();
    assertEquals([s.workers, s.parallelJobs, s.serialJobs], [0, 0, 2]);
    assert(s.serialReasons[0]!.startsWith("workers unavailable: "), s.serialReasons[0]);
    assert(s.serialReasons[0]!.includes("no worker module here"), s.serialReasons[0]);
  } finally {
    broken.close();
  }
  await assertRejects(() => run(broken, jobs(ls, k, n)), TypeError, "the worker pool is closed");
  assertThrows(() => new WorkerPool({ threads: 0 }), RangeError, "threads must be a positive integer, got 0");
});

Deno.test("WorkerPool: a process that used the pool exits by itself once it is closed", async () => {
  const dir = await Deno.makeTempDir();
  const script = `${dir}/use_pool.ts`;
  const here = (p: string) => new URL(p, import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { WorkerPool } from "${here("./pool.ts")}";
import { GPTQ_TASK } from "${here("../passes/weightonly/weight_only_task.ts")}";
const pool = new WorkerPool({ threads: 2 });
const job = (i: number) => ({ label: "l" + i, weights: 64, bytes: 256, args: () => ({ args: {
  weight: Float32Array.from({ length: 64 }, (_, j) => Math.sin(i + j)), k: 16, n: 4, hessian: null,
  options: { bits: 4, groupSize: 16 }, dequantized: false } }) });
let codes = 0;
await pool.map({ ...GPTQ_TASK, minWeights: 0 }, [job(1), job(2)], (r) => codes += r.codes.length);
const s = pool.summary();
pool.close();
console.log(JSON.stringify({ codes, workers: s.workers }));
`,
  );
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const out = await child.output();
    clearTimeout(timer);
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr)); // killed (hanging) would be 137 / signal
    assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), { codes: 128, workers: 2 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
