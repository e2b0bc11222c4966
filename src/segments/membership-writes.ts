import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, Executor, Statement, Store } from "../store/index.ts";

/** A segment's stored membership of one profile, as a real-time evaluation reads it. */
export interface MembershipState {
  /** As stored: a member is `realized` (`existing` is only ever derived, for reports). */
  status: "realized" | "exited";
  /** When the passing of time alone could next change it (epoch ms); undefined when unknown. */
  recheckAt: number | undefined;
}

export interface MembershipWrite {
  segmentId: string;
  profileId: string;
  /** The new status; absent when only the recheck time moves. */
  status?: "realized" | "exited";
  /** The membership row exists (an earlier entry); otherwise it is inserted. */
  known: boolean;
  recheckAt: number | undefined;
}

/**
 * The membership writes of a real-time evaluation (the streaming path's, and `recordMembership`'s
 * for one profile), with the segments part's transitions: a profile that starts qualifying becomes
 * `realized` (its row inserted, or updated after an exit), one that stops becomes `exited`;
 * `changed_at` is now and `run_id` cleared. Each write also sets the row's recheck time (the
 * sweep's), and a member whose recheck time moved gets only that. At most one UPDATE and one
 * INSERT (disjoint rows), for the caller's `writeAll`.
 */
export function membershipStatements(
  dialect: Dialect,
  writes: readonly MembershipWrite[],
  now: Date,
): Statement[] {
  const columns = [
    { name: "segment_id", kind: "string" as const },
    { name: "profile_id", kind: "string" as const },
    { name: "status", kind: "string" as const },
    { name: "recheck_at", kind: "timestamp" as const },
  ];
  const params = (rows: readonly MembershipWrite[]) => [
    now,
    rows.map((w) => w.segmentId),
    rows.map((w) => w.profileId),
    rows.map((w) => w.status ?? null),
    rows.map((w) => (w.recheckAt === undefined ? null : new Date(w.recheckAt).toISOString())),
  ];
  const statements: Statement[] = [];
  const updates = writes.filter((w) => w.known);
  if (updates.length) {
    statements.push({
      sql: `UPDATE segment_memberships
          SET status = COALESCE(s.status, segment_memberships.status),
              changed_at = CASE WHEN s.status IS NULL THEN segment_memberships.changed_at ELSE CAST($1 AS TIMESTAMPTZ) END,
              run_id = CASE WHEN s.status IS NULL THEN segment_memberships.run_id END,
              recheck_at = s.recheck_at
         FROM (${dialect.unnestColumns(columns, 2)}) AS s
        WHERE segment_memberships.sandbox = $sandbox AND segment_memberships.segment_id = s.segment_id
          AND segment_memberships.profile_id = s.profile_id`,
      params: params(updates),
    });
  }
  const inserts = writes.filter((w) => !w.known);
  if (inserts.length) {
    statements.push({
      sql: `INSERT INTO segment_memberships (sandbox, segment_id, profile_id, status, changed_at, recheck_at)
       SELECT $sandbox, s.segment_id, s.profile_id, s.status, CAST($1 AS TIMESTAMPTZ), s.recheck_at
         FROM (${dialect.unnestColumns(columns, 2)}) AS s`,
      params: params(inserts),
    });
  }
  return statements;
}

/** One membership change a batch evaluation recorded: a profile entered (`realized`) or `exited`. */
export interface RecordedChange {
  segmentId: string;
  profileId: string;
  status: "realized" | "exited";
}

/** What one batch evaluation pass recorded, told inside its transaction before it commits. */
export interface RecordedChanges {
  sandbox: string;
  schema: SchemaSnapshot;
  /** The evaluation's clock: the `changed_at` of every change. */
  now: Date;
  /** The pass's segments in which some membership changed, with how many changed. */
  changed: ReadonlyMap<string, number>;
  /** The value of the listener's `probeSql`, read in the evaluation's own statement. */
  probe: unknown;
  /**
   * Walks the changes of `segmentIds`, `profilesPerPage` profiles at a time in profile order, every
   * change of a profile in the same page; `visit` runs (in the transaction) before the next page
   * is read, so that memory holds one page whatever the number of changes.
   */
  forEachPage(
    segmentIds: readonly string[],
    profilesPerPage: number,
    visit: (page: RecordedChange[]) => Promise<void>,
  ): Promise<void>;
}

/**
 * Told about a batch evaluation's membership changes inside the transaction that writes them, so
 * that what it writes commits (or fails) with them: the streaming part queues the changes of the
 * segments it streams to the outbox. The segments part knows nothing of what it does with them.
 */
export interface RecordedChangesListener {
  /**
   * A scalar SQL expression (on `$sandbox`) that the evaluation reads with its counts, in the same
   * statement, and hands back as `probe`: it lets the listener tell, without a query of its own,
   * whether it has anything to do (the streaming part: whether its cached plan is current).
   */
  probeSql: string;
  recorded(db: Executor & { dialect: Dialect }, changes: RecordedChanges): Promise<void>;
}

const listeners = new WeakMap<Store, RecordedChangesListener>();

/**
 * Makes every batch evaluation through `store` tell `listener` what it changed, whoever starts it
 * (the API, the CLI, the daily scheduler): bound to the store rather than passed by each caller,
 * so that no way of evaluating can leave the changes untold. One listener per store.
 */
export function listenToRecordedChanges(store: Store, listener: RecordedChangesListener): void {
  listeners.set(store, listener);
}

export function recordedChangesListener(store: Store): RecordedChangesListener | undefined {
  return listeners.get(store);
}

/**
 * The changes an evaluation run recorded (its `run_id`, `changed_at` now) in the given segments, a
 * page of profiles at a time. They are numbered by profile once into a temporary table (indexed on
 * PostgreSQL; sorted, so pruned by its zone maps, on DuckDB): each page is then a range read, and
 * the whole walk costs one sort of the changes instead of a scan of them per page.
 */
export async function forEachRecordedPage(
  db: Executor & { dialect: Dialect },
  run: { sandbox: string; runId: string; now: Date },
  segmentIds: readonly string[],
  profilesPerPage: number,
  visit: (page: RecordedChange[]) => Promise<void>,
): Promise<void> {
  if (!segmentIds.length) return;
  await db.queryGlobal(
    "CREATE TEMPORARY TABLE herald_recorded_changes (n BIGINT, segment_id TEXT, profile_id TEXT, status TEXT)",
  );
  const segments = segmentIds.map((_, i) => `CAST($${i + 3} AS TEXT)`).join(", ");
  await db.query(
    run.sandbox,
    `INSERT INTO herald_recorded_changes (n, segment_id, profile_id, status)
     SELECT dense_rank() OVER (ORDER BY profile_id), segment_id, profile_id, status FROM segment_memberships
      WHERE sandbox = $sandbox AND segment_id IN (${segments}) AND changed_at = CAST($2 AS TIMESTAMPTZ)
        AND run_id = $1
      ORDER BY 1`,
    [run.runId, run.now, ...segmentIds],
  );
  if (db.dialect.engine === "postgres") {
    await db.queryGlobal("CREATE INDEX ON herald_recorded_changes (n)");
    await db.queryGlobal("ANALYZE herald_recorded_changes");
  }
  for (let after = 0; ; after += profilesPerPage) {
    const rows = await db.queryGlobal<{
      segment_id: string;
      profile_id: string;
      status: RecordedChange["status"];
    }>(
      `SELECT segment_id, profile_id, status FROM herald_recorded_changes
        WHERE n > CAST($1 AS BIGINT) AND n <= CAST($2 AS BIGINT) ORDER BY n, segment_id`,
      [after, after + profilesPerPage],
    );
    if (!rows.length) break;
    await visit(rows.map((r) => ({ segmentId: r.segment_id, profileId: r.profile_id, status: r.status })));
  }
  // Dropped with the transaction when it fails (DDL is transactional on both engines).
  await db.queryGlobal("DROP TABLE herald_recorded_changes");
}
