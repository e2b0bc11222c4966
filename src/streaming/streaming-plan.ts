import type { Logger } from "pino";
import { type Dataflow, listDataflows, type Mapping } from "../activation/index.ts";
import { assertNever } from "../errors/index.ts";
import { type ConsentRequirement, consentRequirements } from "../governance/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import {
  compileEvaluator,
  isInvalidSegment,
  lastWindows,
  listStoredSegments,
  type Segment,
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

/**
 * An enabled or paused (`disabled`) dataflow with at least one segment on the `streaming` schedule.
 * A paused one gets its messages like an enabled one; the dispatcher keeps them until it is resumed.
 */
export interface StreamingDataflow {
  id: string;
  name: string;
  accountId: string;
  destinationId: string;
  details: Record<string, unknown>;
  mapping: Mapping;
  /** The segments it streams (those with the `streaming` schedule). */
  segmentIds: ReadonlySet<string>;
  /** The consent its marketing actions require (src/governance): entries of others are left out. */
  consent?: readonly ConsentRequirement[];
}

/** What the streaming path evaluates and where changes go, for one sandbox. */
export interface StreamingPlan {
  sandbox: string;
  segments: StreamingSegment[];
  dataflows: StreamingDataflow[];
  /**
   * Segments a dataflow streams that the real-time path leaves out, with why: a stored
   * definition that became invalid, or an edit that made the segment batch-only (dataflows are
   * refused such segments when saved, but the segment can change after).
   */
  leftOut: { id: string; reason: string }[];
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
  switch (dataflow.status) {
    case "enabled":
    // Changes made while a dataflow is paused are queued for it, to go out in order on resume.
    case "disabled":
      break;
    // A draft has sent nothing yet: once enabled, it gets the changes from then on.
    case "draft":
      return undefined;
    default:
      return assertNever(dataflow.status, "dataflow status");
  }
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
 * enabled or paused dataflow streams (schedule `streaming`) and that are streaming-eligible are
 * evaluated on the real-time path: the others keep the batch evaluation's semantics (their
 * realized / existing statuses and counts come from the scheduled evaluation), and the cost of each
 * commit grows with what is actually streamed, not with every segment defined.
 */
export async function loadStreamingPlan(
  db: Executor,
  sandbox: string,
  schema: SchemaSnapshot,
): Promise<StreamingPlan> {
  const stored = await listDataflows(db, sandbox);
  const dataflows: StreamingDataflow[] = [];
  for (const dataflow of stored) {
    const streaming = toStreamingDataflow(dataflow);
    if (!streaming) continue;
    const consent = await consentRequirements(db, sandbox, dataflow.marketingActions);
    dataflows.push(consent.length ? { ...streaming, consent } : streaming);
  }
  const streamed = new Set(dataflows.flatMap((d) => [...d.segmentIds]));
  const segmentsStored = await listStoredSegments(db, sandbox);
  const all = segmentsStored.filter((s): s is Segment => !isInvalidSegment(s));
  const definitions = new Map(all.map((s) => [s.id, s.ast]));
  const resolve: SegmentResolver = (id) => definitions.get(id);
  const leftOut = segmentsStored.flatMap((s) => {
    if (!streamed.has(s.id)) return [];
    if (isInvalidSegment(s)) return [{ id: s.id, reason: `its stored definition is invalid (${s.invalid})` }];
    return s.streaming.eligible ? [] : [{ id: s.id, reason: `it is batch-only (${s.streaming.reason})` }];
  });
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
  return { sandbox, segments, dataflows, leftOut };
}

/**
 * What a sandbox's plan is built from, as one text: the segments', dataflows' and consent
 * policies' counts and last changes. A scalar SQL expression (on `$sandbox`), so that a read can
 * carry it and tell whether the plan it was built with is still the current one.
 */
export const PLAN_STAMP_SQL = `(SELECT CAST(count(*) AS TEXT) || '|' || COALESCE(CAST(max(updated_at) AS TEXT), '')
    FROM segments WHERE sandbox = $sandbox) || '/' ||
  (SELECT CAST(count(*) AS TEXT) || '|' || COALESCE(CAST(max(updated_at) AS TEXT), '')
    FROM dataflows WHERE sandbox = $sandbox) || '/' ||
  (SELECT CAST(count(*) AS TEXT) || '|' || COALESCE(CAST(max(updated_at) AS TEXT), '')
    FROM governance_consent_policies WHERE sandbox = $sandbox)`;

/** A cached plan was used, and the stamp read with the states says the plan has changed since. */
export class PlanChanged extends Error {
  constructor() {
    super("the streaming plan changed during the commit");
  }
}

/**
 * Plans cached per sandbox, reloaded when segments, dataflows or the schema change. `planFor`
 * checks with one small query; `cached` gives the last plan with its stamp, for a commit that
 * checks the stamp in its own read instead (one round trip fewer) and retries with `planFor` if
 * it changed.
 */
export function createPlanCache(logger?: Pick<Logger, "warn">) {
  const cache = new Map<string, { key: string; stamp: string; plan: StreamingPlan }>();
  const keyOf = (stamp: string, schema: SchemaSnapshot) =>
    `${stamp}#${schema.profileFields.size}|${schema.eventFields.size}`;
  return {
    async planFor(db: Executor, sandbox: string, schema: SchemaSnapshot): Promise<StreamingPlan> {
      const [row] = await db.query<{ stamp: string }>(sandbox, `SELECT ${PLAN_STAMP_SQL} AS stamp`);
      const stamp = String(row?.stamp);
      const key = keyOf(stamp, schema);
      const cached = cache.get(sandbox);
      if (cached?.key === key) return cached.plan;
      const plan = await loadStreamingPlan(db, sandbox, schema);
      // Said once per plan: the dataflows streaming these segments send nothing for them.
      if (plan.leftOut.length)
        logger?.warn(
          { sandbox, leftOut: plan.leftOut },
          "streamed segments left out of the real-time path; their dataflows send nothing for them",
        );
      cache.set(sandbox, { key, stamp, plan });
      return plan;
    },
    /** The cached plan for this schema and the stamp it was built at, if any. */
    cached(sandbox: string, schema: SchemaSnapshot): { plan: StreamingPlan; stamp: string } | undefined {
      const cached = cache.get(sandbox);
      if (!cached || cached.key !== keyOf(cached.stamp, schema)) return undefined;
      return { plan: cached.plan, stamp: cached.stamp };
    },
  };
}

export type PlanCache = ReturnType<typeof createPlanCache>;
