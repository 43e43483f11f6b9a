/**
 * `.zip` bundles for onnx/io.ts (fflate): the entry list is read first, then only the `.onnx` entry and the
 * external data entries it names are inflated, each checked against a cap on the inflated total before
 * inflating (entry sizes come from the central directory, so a lying size inflates at most that much).
 * @module
 */
import { unzipSync } from "fflate";
import type { Model } from "./ir.ts";
import { dirname } from "./_fs.ts";
import { bytesFile, type RangeReader, rangeReader } from "./_external_data.ts";

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function joinZipPath(dir: string, location: string): string {
  const parts: string[] = [];
  for (const p of (dir + location).split(/[\\/]/)) {
    if (p === "" || p === ".") continue;
    parts.push(p);
  }
  return parts.join("/");
}

/** Where the zip's central directory is said to be, for messages. */
function zipWhere(b: Uint8Array): string {
  for (let e = b.length - 22; e >= 0 && b.length - e <= 65557; e--) {
    if (b[e] === 0x50 && b[e + 1] === 0x4b && b[e + 2] === 5 && b[e + 3] === 6) {
      return `central directory unreadable (end record at byte ${e})`;
    }
  }
  return "no end-of-central-directory record in the last 65557 bytes";
}

/**
 * Decode a `.zip` bundle: the single `.onnx` entry plus the external data entries it names, inflated one at
 * a time on first use; nothing else is inflated, and the total is capped.
 *
 * @param bytes the archive
 * @param maxInflated most bytes inflated in all
 * @param decode decodes the model entry with a reader over the archive's other entries
 * @returns the model
 * @throws {SyntaxError} for a damaged archive (naming the entry or the central directory's byte offset)
 * @throws {RangeError} when the inflated total would pass `maxInflated`
 */
export function decodeZip(
  bytes: Uint8Array,
  maxInflated: number,
  decode: (model: Uint8Array, reader: RangeReader) => Model,
): Model {
  const sizes = new Map<string, number>();
  const inflate = (name: string): Uint8Array => {
    let out: Record<string, Uint8Array>;
    try {
      out = unzipSync(bytes, { filter: (f) => f.name === name });
    } catch (e) {
      throw new SyntaxError(`invalid zip archive: entry "${name}" cannot be inflated (${message(e)})`, {
        cause: e,
      });
    }
    return out[name] ?? new Uint8Array();
  };
  try {
    unzipSync(bytes, {
      filter: (f) => {
        if (f.compression !== 0 && f.compression !== 8) {
          throw new SyntaxError(
            `entry "${f.name}" uses compression method ${f.compression} (0 or 8 expected)`,
          );
        }
        sizes.set(f.name, f.compression === 0 ? f.size : f.originalSize);
        return false;
      },
    });
  } catch (e) {
    throw new SyntaxError(`invalid zip archive: ${zipWhere(bytes)} (${message(e)})`, { cause: e });
  }
  const names = [...sizes.keys()].filter((n) => !n.endsWith("/") && !n.startsWith("__MACOSX/"));
  const models = names.filter((n) => n.toLowerCase().endsWith(".onnx"));
  if (models.length !== 1) {
    const what = models.length === 0
      ? `no .onnx file (entries: ${names.length ? names.slice(0, 20).join(", ") : "none"})`
      : `${models.length} .onnx files (${models.slice(0, 20).join(", ")}); expected exactly one`;
    throw new SyntaxError(`the zip archive holds ${what}`);
  }
  let inflated = 0;
  const budget = (name: string): void => {
    const size = sizes.get(name)!;
    inflated += size;
    if (inflated > maxInflated) {
      throw new RangeError(
        `zip entry "${name}" (${size} bytes inflated) brings the bundle to ${inflated} inflated bytes, ` +
          `over the limit of ${maxInflated} (maxInflatedBytes; SHIFTKIT_MAX_INFLATED_BYTES)`,
      );
    }
  };
  const modelName = models[0]!;
  budget(modelName);
  const dir = dirname(modelName);
  const reader = rangeReader((loc) => {
    const entry = joinZipPath(dir, loc);
    if (!sizes.has(entry)) return undefined;
    budget(entry);
    return bytesFile(inflate(entry));
  });
  return decode(inflate(modelName), reader);
}
