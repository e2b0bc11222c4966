import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import { notFound, validationError } from "../errors/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, Executor, Store } from "../store/index.ts";

import { compileSegmentsToSql } from "./compile-sql/index.ts";
import {
  forEachRecordedPage,
  type MembershipState,
  membershipStatements,
  type RecordedChangesListener,
  recordedChangesListener,
} from "./membership-writes.ts";
import type { SegmentResolver } from "./references.ts";
import { getSegment, segmentResolver } from "./segments.ts";

/**
 * A membership's status as reported: `realized` (entered in the segment's latest evaluation, or
 * since it through the streaming path), `existing` (entered before it, still a member) or
 * `exited`. Only `realized` and `exited` are stored: `existing` is derived against the segment's
 * last evaluation (its time and run), so an evaluation never rewrites the members that stay (a
 * daily run over 100 M members would otherwise update 100 M rows, and DuckDB holds an UPDATE's
 * undo in memory).
 */
export type MembershipStatus = "realized" | "existing" | "exited";

/**
 * The stored memberships of the segment bound to `$n` as `m`, with `status` as reported: the one
 * rule for deriving `existing`. A FROM item body (no alias).
 */
function reportedMemberships(segmentParam: number): string {
  return `SELECT m.profile_id, m.changed_at,
      CASE WHEN m.status = 'realized' AND m.changed_at <= s.last_evaluated_at AND m.run_id IS DISTINCT FROM s.last_run_id
        THEN 'existing' ELSE m.status END AS status
    FROM segment_memberships AS m
      CROSS JOIN (SELECT last_evaluated_at, last_run_id FROM segments WHERE sandbox = $sandbox AND id = $${segmentParam}) AS s
    WHERE m.sandbox = $sandbox AND m.segment_id = $${segmentParam}`;
}

export interface SegmentEvaluation {
  segmentId: string;
  evaluatedAt: Date;
  /** Members after this evaluation (realized + existing). */
  size: number;
  /** Newly qualified (or qualified again after an exit). */
  realized: number;
  /** Members before and after. */
  existing: number;
  /** Members before, not after. */
  exited: number;
  durationMs: number;
}

interface CountRow {
  segment_id: string;
  realized: number | bigint | string | null;
  existing: number | bigint | string | null;
  exited: number | bigint | string | null;
}

const toNumber = (v: number | bigint | string | null | undefined) => Number(v ?? 0);

function placeholders(first: number, count: number): string {
  return Array.from({ length: count }, (_, i) => `CAST($${first + i} AS TEXT)`).join(", ");
}

/**
 * Evaluates segments at `now` in one pass over profiles and events, and writes only what changed:
 * newly qualified profiles become `realized` (changed_at = now), members no longer qualifying
 * become `exited` (changed_at = now); members still qualifying are left as they are (reported
 * `existing` from now on: they entered before this evaluation). One history row per segment
 * records the counts.
 */
export async function evaluateSegments(
  store: Store,
  sandbox: string,
  schema: SchemaSnapshot,
  segmentIds: readonly string[],
  now: Date = new Date(),
): Promise<SegmentEvaluation[]> {
  const unique = [...new Set(segmentIds)];
  const resolve = await segmentResolver(store, sandbox, unique);
  // One pass per group of segments: a query with hundreds of segments would only grow the plan.
  const evaluations: SegmentEvaluation[] = [];
  for (let i = 0; i < unique.length; i += SEGMENTS_PER_PASS) {
    evaluations.push(
      ...(await evaluatePass(store, sandbox, schema, unique.slice(i, i + SEGMENTS_PER_PASS), now, resolve)),
    );
  }
  return evaluations;
}

const SEGMENTS_PER_PASS = 50;

async function evaluatePass(
  store: Store,
  sandbox: string,
  schema: SchemaSnapshot,
  ids: string[],
  now: Date,
  resolve: SegmentResolver,
): Promise<SegmentEvaluation[]> {
  const started = performance.now();
  const segments = ids.map((id) => {
    const ast = resolve(id);
    if (!ast) throw notFound("segment", id);
    return { id, ast };
  });
  const compiled = compileSegmentsToSql(segments, { dialect: store.dialect, schema, now, resolve });
  const runId = randomUUID();
  const listener = recordedChangesListener(store);
  const base = compiled.params.length;
  const run = `CAST($${base + 1} AS TEXT)`;
  // Each segment's qualifying profiles (from the pass, computed once) compared with its stored
  // memberships in a full join on the profile id: only changes are kept. One join per segment on
  // the id alone, not one over (segment, profile) pairs of all of them: at 448MB that composite
  // join of 110 M rows ran out of memory where these complete (docs/benchmarks.md).
  const changes = compiled.columns.map((column, i) => {
    const segment = `CAST($${base + 2 + i} AS TEXT)`;
    return `SELECT ${segment} AS segment_id, COALESCE(r.profile_id, m.profile_id) AS profile_id,
        CASE WHEN r.profile_id IS NULL THEN 'exit' WHEN m.status IS NULL THEN 'enter' ELSE 'reenter' END AS action
      FROM (SELECT q._id AS profile_id FROM q WHERE q.${column}) AS r
      FULL JOIN (SELECT profile_id, status FROM segment_memberships WHERE sandbox = $sandbox AND segment_id = ${segment}) AS m
        ON m.profile_id = r.profile_id
      WHERE (r.profile_id IS NULL AND m.status = 'realized')
         OR (r.profile_id IS NOT NULL AND (m.status IS NULL OR m.status = 'exited'))`;
  });
  const stage = `INSERT INTO segment_membership_changes (run_id, segment_id, profile_id, action)
    WITH q AS MATERIALIZED (${compiled.sql})
    SELECT ${run}, c.segment_id, c.profile_id, c.action FROM (${changes.join("\n UNION ALL\n")}) AS c`;
  const evaluations = await store.transaction(async (tx) => {
    if (store.engine === "postgres") {
      // Two evaluations of one sandbox at once would both insert the same new members: queue them.
      await tx.query(sandbox, "SELECT pg_advisory_xact_lock(hashtext('herald.segments.' || $sandbox))");
    }
    await tx.query(sandbox, stage, [...compiled.params, runId, ...ids]);
    // Exits, and re-entries after an exit, change an existing row.
    await tx.query(
      sandbox,
      `UPDATE segment_memberships AS m
          SET status = CASE c.action WHEN 'exit' THEN 'exited' ELSE 'realized' END,
              changed_at = CAST($2 AS TIMESTAMPTZ), run_id = $1, recheck_at = NULL
         FROM segment_membership_changes AS c
        WHERE c.run_id = $1 AND c.action <> 'enter' AND m.sandbox = $sandbox
          AND m.segment_id = c.segment_id AND m.profile_id = c.profile_id`,
      [runId, now],
    );
    await tx.query(
      sandbox,
      `INSERT INTO segment_memberships (sandbox, segment_id, profile_id, status, changed_at, run_id)
       SELECT $sandbox, c.segment_id, c.profile_id, 'realized', CAST($2 AS TIMESTAMPTZ), $1
         FROM segment_membership_changes AS c WHERE c.run_id = $1 AND c.action = 'enter'`,
      [runId, now],
    );
    await tx.queryGlobal("DELETE FROM segment_membership_changes WHERE run_id = $1", [runId]);
    // After the writes, this run's 'realized' rows entered in it, the other 'realized' rows are
    // members that stayed, and this run's 'exited' rows are the exits.
    const countsSql = `SELECT m.segment_id,
              count(*) FILTER (WHERE m.status = 'realized' AND m.run_id = $1) AS realized,
              count(*) FILTER (WHERE m.status = 'realized' AND m.run_id IS DISTINCT FROM $1) AS existing,
              count(*) FILTER (WHERE m.status = 'exited' AND m.run_id = $1) AS exited
         FROM segment_memberships m WHERE m.sandbox = $sandbox AND m.segment_id IN (${placeholders(2, ids.length)})
        GROUP BY m.segment_id`;
    // Without a listener, the statement as it always was: nothing else is read or written.
    const counts = await tx.query<CountRow & { _probe?: unknown }>(
      sandbox,
      listener ? `SELECT c.*, (${listener.probeSql}) AS _probe FROM (${countsSql}) AS c` : countsSql,
      [runId, ...ids],
    );
    if (listener) {
      await tellRecorded(listener, { ...tx, dialect: store.dialect }, counts, {
        sandbox,
        schema,
        runId,
        now,
      });
    }
    const durationMs = Math.round(performance.now() - started);
    const byId = new Map(counts.map((c) => [c.segment_id, c]));
    const results = ids.map((segmentId): SegmentEvaluation => {
      const c = byId.get(segmentId);
      const realized = toNumber(c?.realized);
      const existing = toNumber(c?.existing);
      return {
        segmentId,
        evaluatedAt: now,
        size: realized + existing,
        realized,
        existing,
        exited: toNumber(c?.exited),
        durationMs,
      };
    });
    for (const r of results) {
      await tx.query(
        sandbox,
        `INSERT INTO segment_evaluations (id, sandbox, segment_id, evaluated_at, size, realized, existing, exited, duration_ms)
         VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7, $8)`,
        [randomUUID(), r.segmentId, now, r.size, r.realized, r.existing, r.exited, durationMs],
      );
    }
    await tx.query(
      sandbox,
      `UPDATE segments SET last_evaluated_at = CAST($1 AS TIMESTAMPTZ), last_run_id = $2
        WHERE sandbox = $sandbox AND id IN (${placeholders(3, ids.length)})`,
      [now, runId, ...ids],
    );
    return results;
  });
  return evaluations;
}

/** Tells the listener what a pass changed (when it changed anything), inside its transaction. */
async function tellRecorded(
  listener: RecordedChangesListener,
  db: Executor & { dialect: Dialect },
  counts: readonly (CountRow & { _probe?: unknown })[],
  run: { sandbox: string; schema: SchemaSnapshot; runId: string; now: Date },
): Promise<void> {
  const changed = new Map<string, number>();
  for (const c of counts) {
    const n = toNumber(c.realized) + toNumber(c.exited);
    if (n) changed.set(c.segment_id, n);
  }
  if (!changed.size) return;
  await listener.recorded(db, {
    sandbox: run.sandbox,
    schema: run.schema,
    now: run.now,
    changed,
    probe: counts[0]?._probe,
    forEachPage: (segmentIds, profilesPerPage, visit) =>
      forEachRecordedPage(db, run, segmentIds, profilesPerPage, visit),
  });
}

/**
 * Records one profile's result for one segment as the streaming path computes it, inside the
 * caller's transaction (so an outbox row can be written with it). Returns the new status when the
 * membership changed (`realized` on entry, `exited` on exit), or undefined when nothing changed:
 * a member that still qualifies stays as it is.
 */
export async function recordMembership(
  db: Executor & { dialect: Dialect },
  sandbox: string,
  segmentId: string,
  profileId: string,
  qualifies: boolean,
  now: Date,
): Promise<"realized" | "exited" | undefined> {
  const [current] = await db.query<{ status: MembershipState["status"] }>(
    sandbox,
    "SELECT status FROM segment_memberships WHERE sandbox = $sandbox AND segment_id = $1 AND profile_id = $2",
    [segmentId, profileId],
  );
  if (qualifies === (current?.status === "realized")) return undefined;
  const status = qualifies ? "realized" : "exited";
  const write = { segmentId, profileId, status, known: current !== undefined, recheckAt: undefined } as const;
  await db.writeAll(sandbox, membershipStatements(db.dialect, [write], now));
  return status;
}

export interface Member {
  profileId: string;
  status: MembershipStatus;
  changedAt: Date;
}

export interface MemberPage {
  members: Member[];
  /** All members matching the filter, not only this page. */
  total: number;
  limit: number;
  offset: number;
}

/** A page of a segment's members (by default the current ones: realized and existing), by profile id. */
export async function listMembers(
  db: Executor,
  sandbox: string,
  segmentId: string,
  options: { limit?: number; offset?: number; statuses?: readonly MembershipStatus[] } = {},
): Promise<MemberPage> {
  const limit = options.limit ?? 100;
  const offset = options.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000 || !Number.isInteger(offset) || offset < 0) {
    throw validationError("limit must be 1-10000 and offset 0 or more", [
      { field: "limit", message: "out of range" },
    ]);
  }
  const { from, params, total } = await membersOf(db, sandbox, segmentId, options.statuses);
  const rows = await db.query<{ profile_id: string; status: MembershipStatus; changed_at: Date }>(
    sandbox,
    `SELECT r.profile_id, r.status, r.changed_at FROM ${from}
     ORDER BY r.profile_id LIMIT CAST($${params.length + 1} AS BIGINT) OFFSET CAST($${params.length + 2} AS BIGINT)`,
    [...params, limit, offset],
  );
  return {
    members: rows.map((r) => ({ profileId: r.profile_id, status: r.status, changedAt: r.changed_at })),
    total,
    limit,
    offset,
  };
}

/** A segment's members of `statuses` (by default the current ones) as a FROM item, and their count. */
async function membersOf(
  db: Executor,
  sandbox: string,
  segmentId: string,
  statuses: readonly MembershipStatus[] = ["realized", "existing"],
) {
  const from = `(${reportedMemberships(1)}) AS r WHERE r.status IN (${placeholders(2, statuses.length)})`;
  const params = [segmentId, ...statuses];
  const [count] = await db.query<{ total: number | bigint }>(
    sandbox,
    `SELECT count(*) AS total FROM ${from}`,
    params,
  );
  return { from, params, total: Number(count?.total ?? 0) };
}

/**
 * Every member of a segment (by default the current ones) as CSV, `profile_id,status,changed_at`
 * (an ISO time in UTC), in profile id order: one query the engine streams (DuckDB's `COPY`,
 * PostgreSQL's `COPY ... TO STDOUT`), so memory stays flat whatever the count, and `total`, the
 * members' count read just before.
 */
export async function membersCsv(
  store: Store,
  sandbox: string,
  segmentId: string,
  statuses?: readonly MembershipStatus[],
): Promise<{ total: number; csv: Readable }> {
  const { from, params, total } = await membersOf(store, sandbox, segmentId, statuses);
  const csv = store.exportQuery(
    sandbox,
    `SELECT r.profile_id, r.status, ${store.dialect.isoTimestamp("r.changed_at")} AS changed_at
       FROM ${from} ORDER BY r.profile_id`,
    params,
    { type: "csv", delimiter: ",", quote: '"', escape: '"', header: true, nullText: "" },
  );
  return { total, csv };
}

/** A segment's evaluations, newest first. */
export async function segmentHistory(
  db: Executor,
  sandbox: string,
  segmentId: string,
  limit = 100,
): Promise<SegmentEvaluation[]> {
  const rows = await db.query<{
    segment_id: string;
    evaluated_at: Date;
    size: number;
    realized: number;
    existing: number;
    exited: number;
    duration_ms: number;
  }>(
    sandbox,
    `SELECT segment_id, evaluated_at, size, realized, existing, exited, duration_ms FROM segment_evaluations
      WHERE sandbox = $sandbox AND segment_id = $1 ORDER BY evaluated_at DESC, id LIMIT CAST($2 AS BIGINT)`,
    [segmentId, limit],
  );
  return rows.map((r) => ({
    segmentId: r.segment_id,
    evaluatedAt: r.evaluated_at,
    size: Number(r.size),
    realized: Number(r.realized),
    existing: Number(r.existing),
    exited: Number(r.exited),
    durationMs: Number(r.duration_ms),
  }));
}

/** What activation needs from segmentation (its SegmentDirectory), bound to a store. */
export function segmentDirectory(store: Executor) {
  return {
    memberships: segmentMemberships,
    segmentName: async (sandbox: string, segmentId: string) =>
      (await getSegment(store, sandbox, segmentId)).name,
  };
}

/**
 * Where memberships live, in the shape activation's audience query takes: a FROM item yielding
 * profile_id, status (as reported: realized, existing, exited), changed_at for the segment bound
 * to parameter `$n`.
 */
export const segmentMemberships = {
  sql: (segmentParam: number) => `(${reportedMemberships(segmentParam)})`,
};
