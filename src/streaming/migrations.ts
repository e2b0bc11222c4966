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
];
