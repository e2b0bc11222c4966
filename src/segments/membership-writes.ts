import type { Dialect, Statement } from "../store/index.ts";

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
