/**
 * A small pool of module Workers for a pass's independent per-layer work (issue 17, item 2): GPTQ / RTN /
 * ShiftAdd fits per layer, DenseShift's nearest-rounding layers. It implements {@link LayerPool}, what a pass
 * receives as `ctx.pool`; api/quantize.ts makes one per call (`threads`) and closes it after the passes.
 *
 * - `threads: N` runs a map's jobs on N workers (fewer for fewer jobs), one job in flight each; this thread
 *   dispatches them, builds their arguments and rewrites the graph with the results. (Running jobs here too
 *   was tried: a long job here leaves the workers idle, its replies unhandled, and it saves no warm-up: each
 *   thread that runs the task JIT-compiles it once, this one included on the serial path.)
 * - Each worker (runtime/pool_worker.ts) imports the task's module itself and calls the same exported
 *   function the serial path calls, on the same arguments, so results are bit-identical to `threads: 1`
 *   (tests/pool_identity_test.ts compares emitted bytes). In a bundle a task's URL is the bundle's own: the
 *   browser page passes `workerUrl` web/dist/pool_worker.js (web/pool_worker.ts), which carries every task
 *   (passes/pool_tasks.ts) and finds each by name, started from the page's Worker.
 * - Arguments are built when a job is dispatched (so copies are made a worker's worth at a time); buffers
 *   the caller gives up are transferred, and so are the result's own buffers.
 * - The costliest jobs start first (`cost`, else `weights`), so a long layer does not run alone at the end;
 *   results reach `onResult` in job order all the same, so the caller rewrites the graph in the serial order.
 * - A job's error rejects the `map` with the job's label (the layer) in its message, its built-in class
 *   kept; the remaining jobs are not started.
 * - Serial, and said so in {@link WorkerPool.summary}: `threads: 1`; no `Worker` in the JavaScript runtime;
 *   workers that fail to start (a `workerUrl` that does not load); a single job; a job
 *   that would copy more than `copyBudget / threads` to a worker (that job alone, in job order; memory: per-layer
 *   calibration's one-layer bound); or a
 *   `map` with fewer weights than its task's `minWeights` while no worker is running yet (a worker's start-up
 *   costs more: 25-60 ms wall and CPU to load its module graph and run a first small job, measured by
 *   bench/pool.ts, then its own JIT warm-up of the task's code (a 2-thread conversion of a
 *   repository model used 0.3-1.4 s more CPU than a 1-thread one); each task's threshold, beside the task, comes from conversions with 1 and 2 threads on
 *   a quiet machine, bench/README.md "Worker threads"). Once started, workers serve every later `map` until
 *   {@linkcode WorkerPool.close}.
 * @module
 */
import type { LayerPool, PoolJob, PoolTask } from "./runtime.ts";

/**
 * Default {@linkcode WorkerPoolOptions.copyBudget}: 512 MiB (jobs up to 256 MiB on 2 threads: every layer of
 * a 1024-wide LM; a 1536-wide LM's fc2, 340 MB with its Hessian, stays in this thread).
 */
export const COPY_BUDGET = 2 ** 29;

/** The most threads the default takes, whatever the hardware reports (memory: one layer in flight each). */
export const MAX_DEFAULT_THREADS = 8;

/**
 * Threads when none are asked for: `navigator.hardwareConcurrency` (1 where absent), at most
 * {@linkcode MAX_DEFAULT_THREADS}.
 *
 * @returns a positive integer
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { defaultThreads } from "./pool.ts";
 * assert(defaultThreads() >= 1);
 * ```
 */
export function defaultThreads(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, Number.isInteger(n) && n! > 0 ? n! : 1));
}

/** Options of {@linkcode WorkerPool}. */
export interface WorkerPoolOptions {
  /**
   * Workers running jobs (1: every job in this thread, no worker).
   * @default {defaultThreads()}
   */
  threads?: number;
  /**
   * The worker module: one that serves runtime/pool_serve.ts's protocol (web/pool_worker.ts in a bundle).
   * @default {runtime/pool_worker.ts beside this module}
   */
  workerUrl?: string | URL;
  /**
   * Bytes the workers' job arguments may copy at once: a job copying more than `copyBudget / threads` runs in
   * this thread instead. Each worker holds a copy of its layer beside this thread's, and per-layer calibration
   * bounds memory by one layer's working set (a 6144-wide Hessian is 302 MB).
   * @default {COPY_BUDGET}
   */
  copyBudget?: number;
  /**
   * Replaces every task's `minWeights` (0: workers for any map of two jobs or more), for tests and
   * measurements.
   * @default {each task's own}
   */
  minWeights?: number;
  /**
   * Why `threads` is 1, said in the summary instead of "1 thread asked" (e.g. a default of 1 chosen for
   * memory).
   * @default {"1 thread asked"}
   */
  serialReason?: string;
}

/** What a pool did, for the summary and `--json`. */
export interface PoolSummary {
  /** Threads asked for. */
  threads: number;
  /** Most workers running at once (0: everything ran serially). */
  workers: number;
  /** Jobs run on the workers. */
  parallelJobs: number;
  /** Jobs run serially in this thread (why: `serialReasons`). */
  serialJobs: number;
  /** Why jobs ran serially, each reason once with its job count. Empty when none did. */
  serialReasons: string[];
  /**
   * Jobs by task name (e.g. `gramFold`: the calibration's Gram folds, one per layer input and batch;
   * `blockwiseLayer`: GPTQ / RTN layer fits), each as run on the workers and serially.
   */
  tasks: Record<string, { parallel: number; serial: number }>;
  /** Wall time from creating the workers to all of them being ready, ms (absent if none started). */
  startupMs?: number;
}

/** One worker and its job in flight. */
interface Slot {
  worker: Worker;
  ready: Promise<void>;
  /** Jobs sent and not answered yet, by id (answered in order: the worker runs one at a time). */
  pending: Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; label: string }>;
  dead?: string;
}

const ERRORS: Record<string, new (message: string, options?: ErrorOptions) => Error> = {
  Error,
  RangeError,
  TypeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * A pool of module Workers running {@link PoolTask}s; see the module doc.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { WorkerPool } from "./pool.ts";
 * const pool = new WorkerPool({ threads: 1 });
 * const out: number[] = [];
 * const task = { url: import.meta.url, name: "none", fn: (x: number) => 2 * x, minWeights: 0 };
 * await pool.map(task, [1, 2].map((x) => ({ label: `job ${x}`, weights: 1, bytes: 8, args: () => ({ args: x }) })), (r) => {
 *   out.push(r);
 * });
 * pool.close();
 * assertEquals([out, pool.summary().serialJobs], [[2, 4], 2]);
 * ```
 */
export class WorkerPool implements LayerPool {
  /** Threads asked for. */
  readonly threads: number;
  #url: string | URL;
  #maxJobBytes: number;
  #minWeights: number | undefined;
  #oneThread: string;
  #slots: Slot[] = [];
  #unavailable: string | undefined;
  #closed = false;
  #nextId = 0;
  #parallelJobs = 0;
  #tasks = new Map<string, { parallel: number; serial: number }>();
  #serialJobs = 0;
  #reasons = new Map<string, number>();
  #startupMs: number | undefined;
  #workers = 0;

  /**
   * Create a pool; no worker starts before a `map` has work enough for one.
   *
   * @param options threads, workerUrl, copyBudget, minWeights
   * @throws {RangeError} when `threads` is not a positive integer
   */
  constructor(options: WorkerPoolOptions = {}) {
    const threads = options.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`threads must be a positive integer, got ${threads}`);
    }
    this.threads = threads;
    this.#url = options.workerUrl ?? new URL("./pool_worker.ts", import.meta.url);
    this.#maxJobBytes = Math.floor((options.copyBudget ?? COPY_BUDGET) / threads);
    this.#minWeights = options.minWeights;
    this.#oneThread = options.serialReason ?? "1 thread asked";
  }

  /** Count `n` jobs of a task, run on the workers or serially. */
  #count(task: string, where: "parallel" | "serial", n: number): void {
    const c = this.#tasks.get(task) ?? { parallel: 0, serial: 0 };
    c[where] += n;
    this.#tasks.set(task, c);
  }

  /** What the pool did so far. */
  summary(): PoolSummary {
    return {
      threads: this.threads,
      workers: this.#workers,
      parallelJobs: this.#parallelJobs,
      serialJobs: this.#serialJobs,
      serialReasons: [...this.#reasons].map(([r, n]) => `${r} (${n} job${n === 1 ? "" : "s"})`),
      tasks: Object.fromEntries([...this.#tasks].map(([name, c]) => [name, { ...c }])),
      ...(this.#startupMs !== undefined ? { startupMs: this.#startupMs } : {}),
    };
  }

  /** Terminate the workers. Later `map` calls throw. */
  close(): void {
    this.#closed = true;
    for (const s of this.#slots) s.worker.terminate();
    this.#slots = [];
  }

  /**
   * Run `task` on every job, on workers or serially (see the module doc).
   *
   * @param task the function and where a worker finds it
   * @param jobs one per layer or group of layers
   * @param onResult receives each result in job order
   * @throws the first failing job's error, its message prefixed with the job's label
   * @throws {TypeError} after {@linkcode WorkerPool.close}
   */
  async map<A, R>(
    task: PoolTask<A, R>,
    jobs: readonly PoolJob<A>[],
    onResult: (result: R, index: number) => void,
  ): Promise<void> {
    if (this.#closed) throw new TypeError(`Cannot run "${task.name}": the worker pool is closed`);
    if (jobs.length === 0) return;
    const why = this.#whySerial(task, jobs);
    const slots = why ? [] : await this.#start(Math.min(this.threads, jobs.length));
    if (slots.length === 0) {
      const reason = why ?? `workers unavailable: ${this.#unavailable}`;
      this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + jobs.length);
      this.#serialJobs += jobs.length;
      this.#count(task.name, "serial", jobs.length);
      jobs.forEach((j, i) => onResult(runLabelled(task, j, false), i));
      return;
    }
    const results: { r: R }[] = [];
    // Costliest first (results still reach onResult in job order), unless a job runs here: it takes the
    // originals, which it may consume, so every earlier job must have its copies first (job order).
    const order = jobs.map((_, i) => i);
    if (jobs.every((j) => j.bytes <= this.#maxJobBytes)) {
      const cost = (i: number) => jobs[i]!.cost ?? jobs[i]!.weights;
      order.sort((a, b) => cost(b) - cost(a) || a - b);
    }
    let next = 0, emitted = 0;
    let failure: unknown;
    const take = (run: (job: PoolJob<A>) => R | Promise<R>) => async () => {
      while (next < jobs.length && failure === undefined) {
        const i = order[next++]!;
        try {
          results[i] = { r: await run(jobs[i]!) };
          while (emitted < jobs.length && results[emitted]) {
            const r = results[emitted]!.r;
            delete results[emitted]; // the result is the caller's now
            onResult(r, emitted++);
          }
        } catch (e) {
          failure ??= e;
        }
      }
    };
    // One job in flight per worker: the next goes to whichever worker answers first (this thread only
    // dispatches, rewrites the graph in order and builds arguments; a worker waiting for it would idle). A job
    // too large to copy runs here, on the originals, once every earlier job has its arguments (in job order,
    // as the serial path: a later job may consume what an earlier one reads).
    const onWorker = (slot: Slot) =>
      take((job) => {
        if (job.bytes > this.#maxJobBytes) {
          const reason = `${job.label}: ${mib(job.bytes)} to copy to a worker, above the ${
            mib(this.#maxJobBytes)
          } a job may take`;
          this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
          this.#serialJobs++;
          this.#count(task.name, "serial", 1);
          return runLabelled(task, job, false);
        }
        const { args, transfer } = job.args(true);
        this.#parallelJobs++;
        this.#count(task.name, "parallel", 1);
        return this.#call<R>(slot, task, args, transfer ?? [], job.label);
      });
    await Promise.all(slots.map((s) => onWorker(s)()));
    if (failure !== undefined) throw failure;
  }

  /** Why a map runs serially before any worker is asked, or undefined. */
  #whySerial<A, R>(task: PoolTask<A, R>, jobs: readonly PoolJob<A>[]): string | undefined {
    if (this.threads === 1) return this.#oneThread;
    if (this.#unavailable) return `workers unavailable: ${this.#unavailable}`;
    if (typeof Worker !== "function") return "workers unavailable: no Worker in this JavaScript runtime";
    if (jobs.length === 1) return "a single job";
    if (jobs.every((j) => j.bytes > this.#maxJobBytes)) {
      return `${mib(Math.min(...jobs.map((j) => j.bytes)))} or more to copy to a worker per job, above the ${
        mib(this.#maxJobBytes)
      } a job may take`;
    }
    if (this.#slots.length === 0) {
      const weights = jobs.reduce((s, j) => s + j.weights, 0), min = this.#minWeights ?? task.minWeights;
      if (weights < min) {
        if (task.unit) {
          return `${task.name}: under ${min} ${task.unit.weights} per ${task.unit.map}, less than starting workers costs`;
        }
        return `${task.name}: ${weights} weights, below the ${min} that pay for starting workers`;
      }
    }
    return undefined;
  }

  /** Up to `n` ready workers (started now where fewer run); none when they cannot start. */
  async #start(n: number): Promise<Slot[]> {
    const t0 = performance.now();
    const fresh: Slot[] = [];
    while (this.#slots.length < n) {
      let worker: Worker;
      try {
        worker = new Worker(this.#url, { type: "module" });
      } catch (e) {
        this.#unavailable = e instanceof Error ? e.message : String(e);
        break;
      }
      const slot = this.#wire(worker);
      this.#slots.push(slot);
      fresh.push(slot);
    }
    const started = await Promise.allSettled(fresh.map((s) => s.ready));
    started.forEach((r, i) => {
      if (r.status === "rejected") {
        const s = fresh[i]!;
        s.dead = r.reason instanceof Error ? r.reason.message : String(r.reason);
        s.worker.terminate();
        this.#unavailable ??= s.dead;
      }
    });
    this.#slots = this.#slots.filter((s) => !s.dead);
    this.#workers = Math.max(this.#workers, this.#slots.length);
    if (fresh.length && this.#slots.length) this.#startupMs ??= performance.now() - t0;
    return this.#slots.slice(0, n);
  }

  /** Listen to a new worker: its ready message, its replies, its errors. */
  #wire(worker: Worker): Slot {
    let ready!: () => void, notReady!: (e: Error) => void;
    const slot: Slot = {
      worker,
      ready: new Promise<void>((res, rej) => (ready = res, notReady = rej)),
      pending: new Map(),
    };
    let isReady = false;
    worker.addEventListener("message", (e: MessageEvent) => {
      const m = e.data as
        | { ready: true }
        | { id: number; ok: true; result: unknown }
        | { id: number; ok: false; error: { name: string; message: string; stack: string } };
      if ("ready" in m) {
        isReady = true;
        ready();
        return;
      }
      const p = slot.pending.get(m.id);
      slot.pending.delete(m.id);
      if (!p) return;
      if (m.ok) p.resolve(m.result);
      else p.reject(workerError(m.error, p.label));
    });
    const fail = (message: string) => {
      if (!isReady) notReady(new Error(message));
      slot.dead = message;
      for (const p of slot.pending.values()) p.reject(new Error(`${p.label}: the worker failed: ${message}`));
      slot.pending.clear();
    };
    worker.addEventListener("error", (e: ErrorEvent) => {
      e.preventDefault(); // handled here: the process goes on (serially, or with the error reported)
      // A browser says nothing of a module worker that failed to load (a 404, a syntax error): name the URL.
      fail(e.message || `worker error (no message; did ${String(this.#url)} load?)`);
    });
    worker.addEventListener("messageerror", () => fail("a message could not be deserialized"));
    return slot;
  }

  /** Send one job to a ready worker and wait for its reply. */
  #call<R>(
    slot: Slot,
    task: { url: string; name: string },
    args: unknown,
    transfer: ArrayBuffer[],
    label: string,
  ) {
    if (slot.dead) return Promise.reject(new Error(`${label}: the worker failed: ${slot.dead}`));
    return new Promise<R>((resolve, reject) => {
      const id = this.#nextId++;
      slot.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, label });
      try {
        slot.worker.postMessage({ id, url: task.url, name: task.name, args }, transfer);
      } catch (e) {
        slot.pending.delete(id);
        reject(new TypeError(`${label}: cannot send the job to a worker: ${(e as Error).message}`));
      }
    });
  }
}

/** Bytes in MiB, one decimal. */
function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Rebuild a worker's error in this thread: its built-in class, the job's label first, the worker's stack as cause. */
function workerError(e: { name: string; message: string; stack: string }, label: string): Error {
  const Ctor = ERRORS[e.name] ?? Error;
  const err = new Ctor(`${label}: ${e.message}`, { cause: e.stack });
  if (!(e.name in ERRORS)) err.name = e.name;
  return err;
}

/** Run a job in this thread, its label added to any error's message as on a worker. */
function runLabelled<A, R>(task: PoolTask<A, R>, job: PoolJob<A>, onWorker: boolean): R {
  const { args } = job.args(onWorker);
  try {
    return task.fn(args);
  } catch (e) {
    if (e instanceof Error) e.message = `${job.label}: ${e.message}`;
    throw e;
  }
}
