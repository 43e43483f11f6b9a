/**
 * A small stand-in for `@std/assert` (JSR is not reachable from the build machines).
 * Same function names and semantics as the real package for the subset shiftkit uses, so switching to
 * `jsr:@std/assert` is a one-line change of the `@std/assert` entry in deno.json.
 * @module
 */

/** Error thrown by every assertion in this module. */
export class AssertionError extends Error {
  /** @param message what failed */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AssertionError";
  }
}

function fmt(v: unknown): string {
  try {
    return Deno.inspect(v, { depth: 6, iterableLimit: 40, strAbbreviateSize: 200 });
  } catch {
    return String(v);
  }
}

function isKeyedCollection(x: unknown): x is Set<unknown> | Map<unknown, unknown> {
  return x instanceof Set || x instanceof Map;
}

/** Deep structural equality, as `@std/assert`'s `equal`. */
export function equal(c: unknown, d: unknown): boolean {
  const seen = new Map<unknown, unknown>();
  return (function compare(a: unknown, b: unknown): boolean {
    if (Object.is(a, b)) return true;
    if (a instanceof Date && b instanceof Date) return Object.is(a.getTime(), b.getTime());
    if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (seen.get(a) === b) return true;
    if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
      const x = a as unknown as ArrayLike<unknown>;
      const y = b as unknown as ArrayLike<unknown>;
      if (x.length !== y.length) return false;
      for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
      return true;
    }
    if (isKeyedCollection(a) && isKeyedCollection(b)) {
      if (a.size !== b.size) return false;
      if (a instanceof Set && b instanceof Set) {
        for (const v of a) if (!b.has(v)) return false;
        return true;
      }
      const am = a as Map<unknown, unknown>, bm = b as Map<unknown, unknown>;
      for (const [k, v] of am) if (!bm.has(k) || !compare(v, bm.get(k))) return false;
      return true;
    }
    const ak = Object.keys(a as object), bk = Object.keys(b as object);
    if (ak.length !== bk.length) return false;
    seen.set(a, b);
    for (const k of ak) {
      if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
      if (!compare((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    }
    return true;
  })(c, d);
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected expression to be truthy");
}

/** Asserts that `actual` and `expected` are deeply equal. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(
    `Values are not equal${suffix}\n  actual:   ${fmt(actual)}\n  expected: ${fmt(expected)}`,
  );
}

/** Asserts that `actual` and `expected` are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) return;
  throw new AssertionError(msg ?? `Expected actual: ${fmt(actual)} not to be: ${fmt(expected)}`);
}

/** Asserts strict (`Object.is`) equality. */
export function assertStrictEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  if (Object.is(actual, expected)) return;
  throw new AssertionError(
    msg ?? `Values are not strictly equal:\n  actual:   ${fmt(actual)}\n  expected: ${fmt(expected)}`,
  );
}

/** Asserts that `actual` is within `tolerance` of `expected` (default 1e-7, as the real package). */
export function assertAlmostEquals(actual: number, expected: number, tolerance = 1e-7, msg?: string): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  if (delta <= tolerance) return;
  const suffix = msg ? `: ${msg}` : ".";
  throw new AssertionError(
    `Expected actual: "${actual}" to be close to "${expected}": delta "${delta.toExponential()}" is greater than "${tolerance.toExponential()}"${suffix}`,
  );
}

/** Asserts that `actual` is not null or undefined. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) {
    throw new AssertionError(msg ?? `Expected actual: "${actual}" to not be null or undefined.`);
  }
}

/** Asserts `actual > expected`. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (actual > expected) return;
  throw new AssertionError(msg ?? `Expect ${fmt(actual)} > ${fmt(expected)}`);
}

/** Asserts `actual >= expected`. */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (actual >= expected) return;
  throw new AssertionError(msg ?? `Expect ${fmt(actual)} >= ${fmt(expected)}`);
}

/** Asserts `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (actual < expected) return;
  throw new AssertionError(msg ?? `Expect ${fmt(actual)} < ${fmt(expected)}`);
}

/** Asserts `actual <= expected`. */
export function assertLessOrEqual<T>(actual: T, expected: T, msg?: string): void {
  if (actual <= expected) return;
  throw new AssertionError(msg ?? `Expect ${fmt(actual)} <= ${fmt(expected)}`);
}

/** Asserts that `actual` includes `expected` (string). */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (actual.includes(expected)) return;
  throw new AssertionError(msg ?? `Expected actual: "${actual}" to contain: "${expected}".`);
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  if (expected.test(actual)) return;
  throw new AssertionError(msg ?? `Expected actual: "${actual}" to match: "${expected}".`);
}

/** Asserts that `actual` contains every element of `expected`. */
export function assertArrayIncludes<T>(actual: ArrayLike<T>, expected: ArrayLike<T>, msg?: string): void {
  const missing: T[] = [];
  for (let i = 0; i < expected.length; i++) {
    let found = false;
    for (let j = 0; j < actual.length; j++) {
      if (equal(expected[i], actual[j])) {
        found = true;
        break;
      }
    }
    if (!found) missing.push(expected[i] as T);
  }
  if (missing.length === 0) return;
  throw new AssertionError(
    msg ?? `Expected actual: "${fmt(actual)}" to include: "${fmt(expected)}"\nmissing: ${fmt(missing)}`,
  );
}

/** Asserts that `obj` is an instance of `type`. */
// deno-lint-ignore no-explicit-any
export function assertInstanceOf<T extends abstract new (...args: any) => any>(
  actual: unknown,
  expectedType: T,
  msg = "",
): asserts actual is InstanceType<T> {
  if (actual instanceof expectedType) return;
  throw new AssertionError(msg || `Expected object to be an instance of "${expectedType.name}"`);
}

/** Always fails. */
export function fail(msg?: string): never {
  throw new AssertionError(`Failed assertion${msg ? `: ${msg}` : "."}`);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

function checkError<E extends Error>(e: unknown, ErrorClass?: ErrorClass<E>, msgIncludes?: string): E {
  if (ErrorClass && !(e instanceof ErrorClass)) {
    throw new AssertionError(
      `Expected error to be instance of "${ErrorClass.name}", but was "${(e as Error)?.constructor?.name}": ${
        fmt(e)
      }`,
    );
  }
  if (msgIncludes !== undefined && !String((e as Error)?.message).includes(msgIncludes)) {
    throw new AssertionError(
      `Expected error message to include "${msgIncludes}", but got "${(e as Error)?.message}".`,
    );
  }
  return e as E;
}

/** Asserts that `fn` throws; returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes);
  }
  throw new AssertionError(msg ?? "Expected function to throw.");
}

/** Asserts that the promise returned by `fn` rejects; returns the error. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes);
  }
  throw new AssertionError(msg ?? "Expected function to reject.");
}
