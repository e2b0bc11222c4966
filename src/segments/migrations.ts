import type { Migration } from "../store/index.ts";

/** The segments part's tables; apply with `migrate(db, engine, "segments", segmentMigrations)`. */
export const segmentMigrations: Migration[] = [
  {
    version: 1,
    name: "segments, memberships, evaluation history",
    statements: (engine) => [
      `CREATE TABLE segments (
         sandbox TEXT NOT NULL,
         id TEXT NOT NULL,
         name TEXT NOT NULL,
         description TEXT,
         definition TEXT NOT NULL,
         ast TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL,
         last_evaluated_at TIMESTAMPTZ,
         PRIMARY KEY (sandbox, id)
       )`,
      // One row per (segment, profile) ever qualified; exits stay, so incremental exports see them.
      // run_id: the evaluation that last changed the row, to count its changes without a second join.
      // DuckDB keeps no index here (as for profiles): its updates join instead.
      `CREATE TABLE segment_memberships (
         sandbox TEXT NOT NULL,
         segment_id TEXT NOT NULL,
         profile_id TEXT NOT NULL,
         status TEXT NOT NULL,
         changed_at TIMESTAMPTZ NOT NULL,
         run_id TEXT
         ${engine === "postgres" ? ", PRIMARY KEY (sandbox, segment_id, profile_id)" : ""}
       )`,
      `CREATE TABLE segment_evaluations (
         id TEXT PRIMARY KEY,
         sandbox TEXT NOT NULL,
         segment_id TEXT NOT NULL,
         evaluated_at TIMESTAMPTZ NOT NULL,
         size BIGINT NOT NULL,
         realized BIGINT NOT NULL,
         existing BIGINT NOT NULL,
         exited BIGINT NOT NULL,
         duration_ms BIGINT NOT NULL
       )`,
      // The membership changes one evaluation computed (enter, reenter, exit), applied then deleted.
      `CREATE TABLE segment_membership_changes (
         run_id TEXT NOT NULL,
         segment_id TEXT NOT NULL,
         profile_id TEXT NOT NULL,
         action TEXT NOT NULL
       )`,
      ...(engine === "postgres"
        ? [
            "CREATE INDEX segment_memberships_changed ON segment_memberships (sandbox, segment_id, changed_at)",
            "CREATE INDEX segment_evaluations_segment ON segment_evaluations (sandbox, segment_id, evaluated_at)",
            "CREATE INDEX segment_membership_changes_run ON segment_membership_changes (run_id)",
          ]
        : []),
    ],
  },
  {
    version: 2,
    name: "memberships by profile",
    // The streaming path reads every membership of the profiles a commit touched: one probe per
    // profile here instead of one per (streamed segment, profile) through the primary key.
    statements: (engine) =>
      engine === "postgres"
        ? ["CREATE INDEX segment_memberships_profile ON segment_memberships (sandbox, profile_id)"]
        : [],
  },
  {
    version: 3,
    name: "membership recheck time",
    // When the passing of time alone could next change a membership, as the streaming path computed
    // it; NULL when unknown (any write of the batch evaluation clears it): the sweep re-evaluates
    // members whose time has come, and those with NULL.
    statements: () => ["ALTER TABLE segment_memberships ADD COLUMN recheck_at TIMESTAMPTZ"],
  },
  {
    version: 4,
    name: "existing derived, not stored",
    // `existing` is now reported against the segment's last evaluation, its time and run (see
    // MembershipStatus); rows an evaluation used to rewrite to it are members, stored 'realized'.
    statements: () => [
      "ALTER TABLE segments ADD COLUMN last_run_id TEXT",
      "UPDATE segment_memberships SET status = 'realized' WHERE status = 'existing'",
    ],
  },
];
