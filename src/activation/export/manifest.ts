import type { ExportedFile } from "./export-files.ts";

/** `manifest-<dataflowId>-<runId>.json`: what a run delivered, for the receiving side to check. */
export function manifestFileName(dataflowId: string, runId: string): string {
  return `manifest-${dataflowId}-${runId}.json`;
}

export function buildManifest(
  run: { dataflowId: string; runId: string; scheduledAt: Date; segmentId: string },
  files: ExportedFile[],
) {
  return {
    dataflowId: run.dataflowId,
    runId: run.runId,
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
