import { type Dataflow, listDataflows, type Mapping } from "../activation/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import {
  compileEvaluator,
  lastWindows,
  listSegments,
  type SegmentAst,
  type SegmentEvaluator,
  type SegmentResolver,
  streamingEventReach,
} from "../segments/index.ts";
import type { Executor } from "../store/index.ts";

/** A streaming-eligible segment, compiled to its in-memory evaluator. */
export interface StreamingSegment {
  id: string;
  name: string;
  evaluate: SegmentEvaluator;
  /** The event types it reads, with how far back (ms): only these events of a profile are loaded. */
  eventReach: ReadonlyMap<string, number>;
  /** Its result can change with time alone (windows, ages, birthdays): the sweep re-evaluates its members. */
  timeDependent: boolean;
  /**
   * The lengths of its `within last` windows per event type, when they are all it reads of the
   * time: a member is then looked at again only when one of its events enters or leaves a window.
   */
  lastWindows?: ReadonlyMap<string, readonly number[]>;
}

/** An enabled dataflow with at least one segment on the `streaming` schedule. */
export interface StreamingDataflow {
  id: string;
  name: string;
  accountId: string;
  destinationId: string;
  details: Record<string, unknown>;
  mapping: Mapping;
  /** The segments it streams (those with the `streaming` schedule). */
  segmentIds: ReadonlySet<string>;
}

/** What the streaming path evaluates and where changes go, for one sandbox. */
export interface StreamingPlan {
  sandbox: string;
  segments: StreamingSegment[];
  dataflows: StreamingDataflow[];
}

/** The AST, with every segment it references, as text: enough to see which node kinds it uses. */
function expandedText(ast: SegmentAst, resolve: SegmentResolver, seen = new Set<string>()): string {
  let text = JSON.stringify(ast);
  for (const match of text.matchAll(/"kind":"inSegment","segment":"([^"]+)"/g)) {
    const id = match[1] as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const referenced = resolve(id);
    if (referenced) text += expandedText(referenced, resolve, seen);
  }
  return text;
}

const windowsOf = (windows: Map<string, number[]> | undefined) => (windows ? { lastWindows: windows } : {});

export function toStreamingDataflow(dataflow: Dataflow): StreamingDataflow | undefined {
  if (dataflow.status !== "enabled") return undefined;
  const segmentIds = dataflow.segments
    .filter((s) => s.schedule.frequency === "streaming")
    .map((s) => s.segmentId);
  if (!segmentIds.length) return undefined;
  return {
    id: dataflow.id,
    name: dataflow.name,
    accountId: dataflow.accountId,
    destinationId: dataflow.destinationId,
    details: dataflow.details,
    mapping: dataflow.mapping,
    segmentIds: new Set(segmentIds),
  };
}

/**
 * Reads the sandbox's streaming dataflows and the segments they stream. Only segments that an
 * enabled dataflow streams (schedule `streaming`) and that are streaming-eligible are evaluated on
 * the real-time path: the others keep the batch evaluation's semantics (their realized / existing
 * statuses and counts come from the scheduled evaluation), and the cost of each commit grows with
 * what is actually streamed, not with every segment defined.
 */
export async function loadStreamingPlan(
  db: Executor,
  sandbox: string,
  schema: SchemaSnapshot,
): Promise<StreamingPlan> {
  const dataflows = (await listDataflows(db, sandbox))
    .map(toStreamingDataflow)
    .filter((d): d is StreamingDataflow => d !== undefined);
  const streamed = new Set(dataflows.flatMap((d) => [...d.segmentIds]));
  const all = await listSegments(db, sandbox);
  const definitions = new Map(all.map((s) => [s.id, s.ast]));
  const resolve: SegmentResolver = (id) => definitions.get(id);
  const segments = all
    .filter((s) => s.streaming.eligible && streamed.has(s.id))
    .map((s): StreamingSegment => {
      const text = expandedText(s.ast, resolve);
      return {
        id: s.id,
        name: s.name,
        evaluate: compileEvaluator(s.ast, schema, { resolve, segmentId: s.id }),
        eventReach: streamingEventReach(s.ast, { resolve, segmentId: s.id }),
        ...windowsOf(lastWindows(s.ast, { resolve, segmentId: s.id })),
        timeDependent: /"window":|"kind":"age"|"kind":"birthday"/.test(text),
      };
    });
  return { sandbox, segments, dataflows };
}

/**
 * Plans cached per sandbox, reloaded when segments, dataflows or the schema change: one small query
 * per commit instead of reading and compiling every segment each time.
 */
export function createPlanCache() {
  const cache = new Map<string, { key: string; plan: StreamingPlan }>();
  return {
    async planFor(db: Executor, sandbox: string, schema: SchemaSnapshot): Promise<StreamingPlan> {
      const [row] = await db.query<Record<string, unknown>>(
        sandbox,
        `SELECT (SELECT count(*) FROM segments WHERE sandbox = $sandbox) AS segments,
                (SELECT max(updated_at) FROM segments WHERE sandbox = $sandbox) AS segments_at,
                (SELECT count(*) FROM dataflows WHERE sandbox = $sandbox) AS dataflows,
                (SELECT max(updated_at) FROM dataflows WHERE sandbox = $sandbox) AS dataflows_at`,
      );
      const stamp = (v: unknown) => (v instanceof Date ? v.getTime() : String(v));
      const key = [
        row?.segments,
        stamp(row?.segments_at),
        row?.dataflows,
        stamp(row?.dataflows_at),
        schema.profileFields.size,
        schema.eventFields.size,
      ].join("|");
      const cached = cache.get(sandbox);
      if (cached?.key === key) return cached.plan;
      const plan = await loadStreamingPlan(db, sandbox, schema);
      cache.set(sandbox, { key, plan });
      return plan;
    },
  };
}

export type PlanCache = ReturnType<typeof createPlanCache>;
