import type { Issue } from "../errors/index.ts";
import { isInvalidSegment, listStoredSegments } from "../segments/index.ts";
import type { Executor } from "../store/index.ts";
import type { DataflowSegment } from "./dataflows.ts";

/**
 * What a dataflow's segments must be when it is saved: segments of this sandbox (a typo'd id would
 * only fail at the first run), and, for those it streams, segments the real-time path can evaluate
 * (a batch-only segment on the `streaming` schedule would never send a message).
 */
export async function segmentIssues(
  db: Executor,
  sandbox: string,
  segments: readonly Pick<DataflowSegment, "segmentId" | "schedule">[],
): Promise<Issue[]> {
  const stored = new Map((await listStoredSegments(db, sandbox)).map((s) => [s.id, s]));
  return segments.flatMap((s, i): Issue[] => {
    const field = `segments.${i}.segmentId`;
    const segment = stored.get(s.segmentId);
    if (!segment)
      return [{ field, message: `${field}: no segment with id '${s.segmentId}' in this sandbox` }];
    if (s.schedule.frequency !== "streaming" || isInvalidSegment(segment) || segment.streaming.eligible)
      return [];
    return [
      {
        field,
        message: `${field}: segment '${segment.name}' cannot be evaluated in real time (${segment.streaming.reason}); stream a streaming-eligible segment, or export this one to a file destination on a schedule`,
      },
    ];
  });
}
