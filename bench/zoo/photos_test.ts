import { assert, assertEquals } from "@std/assert";
import { decodeImage } from "../../runtime/images.ts";
import { IMAGENET_PHOTOS, OBJECT_PHOTOS, photoSplit } from "./models.ts";

const here = new URL(".", import.meta.url);

Deno.test("photoSplit: calibration and evaluation photos never overlap, on both sets", () => {
  for (
    const [set, all, calib, evals] of [["imagenet", IMAGENET_PHOTOS, 12, 33], [
      "objects",
      OBJECT_PHOTOS,
      8,
      20,
    ]] as const
  ) {
    const s = photoSplit(set);
    assertEquals([s.calib.length, s.eval.length], [calib, evals], set);
    assertEquals(s.calib.filter((f) => s.eval.includes(f)), [], set);
    assertEquals([...s.calib, ...s.eval].sort(), [...all].sort(), set);
    assertEquals(new Set(all).size, all.length, `${set}: a photo listed twice`);
  }
  // the older set keeps its order: the first 8 calibrate
  assertEquals(photoSplit("objects").calib, OBJECT_PHOTOS.slice(0, 8));
});

Deno.test("IMAGENET_PHOTOS: every photo is committed, decodes, at most 320 px, and no file is a copy of another", async () => {
  const seen = new Map<string, string>();
  for (const f of IMAGENET_PHOTOS) {
    const bytes = await Deno.readFile(new URL(`photos/${f}`, here));
    const img = decodeImage(bytes, { name: f });
    assert(
      Math.max(img.width, img.height) <= 320 && Math.min(img.width, img.height) >= 100,
      `${f}: ${img.width}x${img.height}`,
    );
    const key = String(await crypto.subtle.digest("SHA-256", bytes).then((d) => new Uint8Array(d).join(",")));
    assert(!seen.has(key), `${f} is a copy of ${seen.get(key)}`);
    seen.set(key, f);
  }
});
