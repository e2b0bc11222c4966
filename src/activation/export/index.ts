export { type ExportedFile, type ExportRequest, exportToFiles } from "./export-files.ts";
export {
  DEFAULT_FILE_NAME_TEMPLATE,
  type FileNameContext,
  renderFileName,
  validateFileNameTemplate,
} from "./file-names.ts";
export {
  csvOptionsSchema,
  type FileOptions,
  type FileOptionsInput,
  fileExtension,
  fileOptionsSchema,
} from "./file-options.ts";
export { buildManifest, manifestFileName } from "./manifest.ts";
export { gzipInParallel } from "./parallel-gzip.ts";
export { RowSplitter } from "./row-splitter.ts";
