import type { ExportedFile } from "./export-files.ts";
import { type FileNameContext, renderManifestName } from "./file-names.ts";

/**
 * `manifest-<the files' name>.json` (renderManifestName). Its length was checked with the run's
 * first file (renderFileName), before anything was delivered.
 */
export function manifestFileName(template: string, context: FileNameContext): string {
  return renderManifestName(template, context);
}

/** What a segment's export delivered, for the receiving side to check; nothing a rerun changes. */
export function buildManifest(
  run: { dataflowId: string; scheduledAt: Date; segmentId: string },
  files: ExportedFile[],
) {
  return {
    dataflowId: run.dataflowId,
    segmentId: run.segmentId,
    scheduledTime: run.scheduledAt.toISOString(),
    files: files.map((f) => ({
      path: f.location,
      name: f.name,
      size: f.bytes,
      rows: f.rows,
      sha256: f.sha256,
    })),
    totalRows: files.reduce((sum, f) => sum + f.rows, 0),
  };
}
