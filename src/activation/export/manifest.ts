import type { ExportedFile } from "./export-files.ts";
import { type FileNameContext, renderFileName } from "./file-names.ts";

/**
 * `manifest-<the files' name>.json`: named by the files' own template (their scheduled time, not
 * the run's id), so that a rerun replaces it with the files it lists instead of adding another.
 */
export function manifestFileName(template: string, context: FileNameContext): string {
  return renderFileName(`manifest-${template}`, context, 1, "json");
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
