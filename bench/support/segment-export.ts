/**
 * What users run, timed: one segment of a dataflow exported by `runSegmentExport`, as the export
 * benchmarks measure it (a manual run, a fixed scheduled time so file names repeat).
 */
import { runSegmentExport } from "../../src/activation/index.ts";
import { timed } from "./measure.ts";

export async function timedSegmentExport(
  deps: Parameters<typeof runSegmentExport>[0],
  sandbox: string,
  dataflowId: string,
  segmentId: string,
): Promise<{ seconds: number; activated: number; files: number; bytes: number }> {
  const { value: run, seconds } = await timed(() =>
    runSegmentExport(deps, sandbox, {
      dataflowId,
      segmentId,
      trigger: "manual",
      scheduledFor: new Date("2026-03-15T06:00:00Z"),
    }),
  );
  if (run.status !== "succeeded") throw new Error(`the run ${run.status}: ${run.errors.join("; ")}`);
  return {
    seconds,
    activated: run.activated,
    files: run.files.length,
    bytes: run.files.reduce((sum, f) => sum + f.bytes, 0),
  };
}
