import type { Migration } from "../store/index.ts";

/**
 * The streaming part's tables; apply with `migrate(db, engine, "streaming", streamingMigrations)`.
 *
 * `streaming_outbox` holds one message per (dataflow, profile, commit) that changed a membership the
 * dataflow activates, written in the same transaction as the membership. A row leaves the table only
 * once its destination acknowledged it; a row that ran out of attempts stays with state `dead` (the
 * dead letters) until it is replayed or discarded.
 */
export const streamingMigrations: Migration[] = [
  {
    version: 1,
    name: "streaming outbox",
    statements: (engine) => [
      "CREATE SEQUENCE streaming_outbox_id",
      // DuckDB keeps no index here: its updates of indexed rows conflict within a transaction, and
      // the outbox stays small (only undelivered messages).
      `CREATE TABLE streaming_outbox (
         id BIGINT NOT NULL DEFAULT nextval('streaming_outbox_id'),
         sandbox TEXT NOT NULL,
         dataflow_id TEXT NOT NULL,
         profile_id TEXT NOT NULL,
         payload TEXT NOT NULL,
         ingested_at TIMESTAMPTZ NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         state TEXT NOT NULL DEFAULT 'pending',
         attempts INTEGER NOT NULL DEFAULT 0,
         next_attempt_at TIMESTAMPTZ NOT NULL,
         last_error TEXT,
         dead_at TIMESTAMPTZ
         ${engine === "postgres" ? ", PRIMARY KEY (id)" : ""}
       )`,
      ...(engine === "postgres"
        ? ["CREATE INDEX streaming_outbox_state ON streaming_outbox (state, id)"]
        : []),
    ],
  },
  {
    version: 2,
    name: "outbox read per dataflow and profile",
    // The dispatcher reads, per dataflow it may send to, the oldest pending message of each profile
    // (`readSendable`): PostgreSQL walks a dataflow's queue in commit order on the first index and
    // checks each message is its profile's oldest on the second, so a paused dataflow's backlog is
    // never stepped over. The first replaces (state, id), which the dead letters (state 'dead' of a
    // sandbox, or of a dataflow) use as well. DuckDB reads the outbox with one scan and hash
    // aggregates, which its indexes would not speed up (see migration 1 for why it keeps none).
    statements: (engine) =>
      engine === "postgres"
        ? [
            "CREATE INDEX streaming_outbox_dataflow_queue ON streaming_outbox (state, sandbox, dataflow_id, id)",
            `CREATE INDEX streaming_outbox_profile_queue ON streaming_outbox (sandbox, dataflow_id, profile_id, id)
               WHERE state = 'pending'`,
            "DROP INDEX streaming_outbox_state",
          ]
        : [],
  },
];
