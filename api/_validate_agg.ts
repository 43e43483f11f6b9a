/**
 * Private accumulators of api/validate.ts: per-op-type agreement from the executor's node records, and
 * pooled error statistics (total signal / total error over every sample, not a mean of per-sample dB values).
 * @module
 */
import type { NodeRecord } from "../kernels/executor.ts";

/** Agreement of one op type between the GPU kernels and the CPU evaluator. */
export interface OpAgreement {
  /** Op type (`domain.op` outside the default domain). */
  op: string;
  /** `kernel`: must run on the GPU; `shape` / `float`: CPU by design (shape arithmetic, float ops); `control`: If/Loop/Scan. */
  role: "kernel" | "shape" | "float" | "control";
  /** Node executions (nodes x samples). */
  runs: number;
  /** Of those, run by a GPU kernel. */
  gpu: number;
  /** Of those, run on the CPU (by design for shape / float ops; fallbacks for kernel ops). */
  cpu: number;
  /** Kernel-op executions that fell back to the CPU. */
  fallbacks: number;
  /** Why they fell back, deduplicated. */
  fallbackReasons: string[];
  /** Of the GPU runs, compared with the CPU evaluator. */
  compared: number;
  /** Of the compared runs, bitwise equal. */
  exact: number;
  /** Of the compared runs, within tolerance (integers: equal; floats: the spec's bound). */
  withinTolerance: number;
  /** Whether the op's outputs are integers (where bitwise equality is required). */
  integer: boolean;
  /** Largest |GPU - CPU| seen. */
  maxAbsDiff: number;
  /** The tolerance rule of float outputs (`exact` for integer ones). */
  tolerance: string;
  /** Other notes (missing references), deduplicated. */
  notes: string[];
}

/** Per-op aggregation of node records. */
export class OpTable {
  readonly #ops = new Map<string, OpAgreement>();
  /** Integer GPU runs that differed from the CPU evaluator. */
  integerMismatches = 0;
  /** Float GPU runs beyond their tolerance. */
  toleranceFailures = 0;
  /** Kernel-op runs on the CPU. */
  fallbacks = 0;

  /** @param r one node record */
  add(r: NodeRecord): void {
    let a = this.#ops.get(r.op);
    if (!a) {
      a = {
        op: r.op,
        role: r.role,
        runs: 0,
        gpu: 0,
        cpu: 0,
        fallbacks: 0,
        fallbackReasons: [],
        compared: 0,
        exact: 0,
        withinTolerance: 0,
        integer: r.integer,
        maxAbsDiff: 0,
        tolerance: r.integer ? "exact" : "",
        notes: [],
      };
      this.#ops.set(r.op, a);
    }
    if (r.role === "kernel") a.role = "kernel"; // one kernel-role node makes the op type a kernel op
    a.runs++;
    if (r.device === "gpu") a.gpu++;
    else a.cpu++;
    if (r.fallback !== undefined) {
      a.fallbacks++;
      this.fallbacks++;
      if (!a.fallbackReasons.includes(r.fallback)) a.fallbackReasons.push(r.fallback);
    }
    if (r.compared) {
      a.compared++;
      if (r.exact) a.exact++;
      if (r.withinTolerance) a.withinTolerance++;
      else if (r.integer) this.integerMismatches++;
      else this.toleranceFailures++;
      a.maxAbsDiff = Math.max(a.maxAbsDiff, r.maxAbsDiff);
      if (r.tolerance && !a.tolerance.includes(r.tolerance)) {
        a.tolerance = a.tolerance && a.tolerance !== "exact" ? `${a.tolerance}; ${r.tolerance}` : r.tolerance;
      }
    }
    if (r.note && !a.notes.includes(r.note)) a.notes.push(r.note);
  }

  /** @returns the rows in first-seen order */
  rows(): OpAgreement[] {
    return [...this.#ops.values()].map((a) => ({ ...a, tolerance: a.tolerance || "exact" }));
  }
}

/** Pooled error of a test signal against a reference, over any number of samples. */
export class Pooled {
  #signal = 0;
  #noise = 0;
  #dot = 0;
  #aa = 0;
  #bb = 0;
  #max = 0;
  #minCos = Infinity;
  /** Samples added. */
  n = 0;

  /**
   * @param ref reference values
   * @param test tested values (same length)
   */
  add(ref: ArrayLike<number>, test: ArrayLike<number>): void {
    let dot = 0, aa = 0, bb = 0;
    for (let i = 0; i < ref.length; i++) {
      const r = ref[i]!, t = test[i]!, d = r - t;
      this.#signal += r * r;
      this.#noise += d * d;
      dot += r * t;
      aa += r * r;
      bb += t * t;
      const ad = Math.abs(d);
      if (ad > this.#max || ad !== ad) this.#max = ad;
    }
    this.#dot += dot;
    this.#aa += aa;
    this.#bb += bb;
    const c = aa === 0 && bb === 0 ? 1 : dot / Math.sqrt(aa * bb);
    this.#minCos = Math.min(this.#minCos, c);
    this.n++;
  }

  /** Total signal over total error, in dB. */
  get sqnrDb(): number {
    return this.#noise === 0 ? Infinity : 10 * Math.log10(this.#signal / this.#noise);
  }

  /** Cosine similarity of the concatenated samples. */
  get cosine(): number {
    return this.#aa === 0 && this.#bb === 0 ? 1 : this.#dot / Math.sqrt(this.#aa * this.#bb);
  }

  /** Smallest per-sample cosine. */
  get minCosine(): number {
    return this.n ? this.#minCos : NaN;
  }

  /** Largest absolute difference. */
  get maxAbsDiff(): number {
    return this.#max;
  }
}
