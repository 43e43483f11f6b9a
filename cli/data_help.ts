/**
 * The data contract as `--help` prints it (the README's "Data" section says the same at length).
 * @module
 */

/** Help lines on DATA, shared by quantize, eval and validate. */
export const DATA_HELP: string = [
  "DATA (each checked against the model's inputs before anything runs: a missing input, a wrong element",
  "type or shape, or sample counts that differ are refused with exit 2, naming the input and both shapes):",
  "  X.npz        one array per model input, named after it; axis 0 is the sample axis:",
  "                 [samples, ...input dims]  per-sample form (rank r+1): one call per sample, or several",
  "                   samples per call (--batch-size) where the input's axis 0 is dynamic;",
  "                 [rows, ...]  the input's own rank: stacked form, split into batches of the model's",
  "                   batch size (its fixed axis 0, e.g. 1 for a PyTorch export; else --batch-size);",
  "                 [samples]  for a scalar input; recurrent state such as [2, batch, 128] in per-sample form.",
  "  X.npy        the same, for a single-input model",
  "  FOLDER/      .npz files, one sample each (arrays in the input's own shape), in name order",
  "  FOLDER/      PNG/JPEG images with --preprocess: a preset (ppocr-rec ppocr-det ppocr-cls segmenter",
  "                 imagenet pm1 raw255) or image[:size=WxH,layout=nchw|nhwc,mean=M,std=S,range=0..1,",
  "                 order=rgb|bgr,resize=stretch|center-crop] (M, S: one value or a/b/c in range units;",
  "                 size and layout default to the model's image input)",
  "  models/SET   an eval set (X.json + X.rgb.gz), e.g. models/ocr-calib-sans",
  "  FILE         any other file: text for a byte-level LM (128-byte windows, or the model's fixed length)",
  "Relative paths are taken from the folder the command was typed in, also through `deno task`.",
].join("\n");
