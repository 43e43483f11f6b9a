/**
 * Calibration and evaluation data: one {@link DataSource} interface, one file per kind (npz/npy tensors,
 * npz folders, LM text, image folders, eval sets), a registry that picks the kind from a DATA spec.
 * @module
 */
export {
  checkFeedsCover,
  type DataKind,
  DataMismatchError,
  type DataSource,
  formatDims,
  type ModelInput,
  modelInputs,
  type OpenDataOptions,
  samplesIn,
} from "./source.ts";
export { tensorSource, type TensorSourceOptions } from "./tensors.ts";
export { npyKind, npzKind } from "./npz.ts";
export { npzFolderKind, stackSamples } from "./npz_folder.ts";
export { textKind, type TextSource, textSource, type TextSourceOptions } from "./text.ts";
export { imageFolderKind, type ImageSource, imageSource } from "./image_folder.ts";
export {
  evalSetKind,
  type EvalSetOptions,
  type OcrLinesOptions,
  type OcrLinesSource,
  ocrLinesSource,
  type PageLine,
  type SegmentationSource,
  segmentationSource,
  type TextPagesSource,
  textPagesSource,
} from "./evalsets.ts";
export { DATA_KINDS, findDataKind, openDataSource } from "./registry.ts";
