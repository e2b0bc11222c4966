import type { Dialect, Executor, Row, Statement, Store } from "../store/index.ts";

/** One undelivered message as the dispatcher reads it. */
export interface OutboxMessage {
  id: number;
  sandbox: string;
  dataflowId: string;
  profileId: string;
  payload: string;
  ingestedAt: Date;
  attempts: number;
  nextAttemptAt: Date;
}

interface OutboxRow {
  id: number | bigint;
  sandbox: string;
  dataflow_id: string;
  profile_id: string;
  payload: string;
  ingested_at: Date;
  attempts: number;
  next_attempt_at: Date;
}

/**
 * One message per (dataflow, profile) of a commit: the INSERT for the commit's `writeAll` (last, as
 * its rows are the ids), and how the rows it returns become messages as the dispatcher reads them,
 * to be handed over once the commit is done.
 */
export function outboxWrite(
  messages: readonly { dataflowId: string; profileId: string; payload: string }[],
  sandbox: string,
  dialect: Dialect,
  ingestedAt: Date,
): { statement: Statement; queued: (rows: readonly Row[]) => OutboxMessage[] } {
  // Queue times are wall-clock (the dispatcher's), whatever clock memberships are evaluated at.
  const createdAt = new Date();
  const source = dialect.unnestColumns(
    [
      { name: "dataflow_id", kind: "string" },
      { name: "profile_id", kind: "string" },
      { name: "payload", kind: "string" },
    ],
    3,
  );
  const statement = {
    sql: `INSERT INTO streaming_outbox (sandbox, dataflow_id, profile_id, payload, ingested_at, created_at, next_attempt_at)
     SELECT $sandbox, s.dataflow_id, s.profile_id, s.payload, CAST($1 AS TIMESTAMPTZ), CAST($2 AS TIMESTAMPTZ), CAST($2 AS TIMESTAMPTZ)
       FROM (${source}) AS s
     RETURNING id, dataflow_id, profile_id`,
    params: [
      ingestedAt,
      createdAt,
      messages.map((m) => m.dataflowId),
      messages.map((m) => m.profileId),
      messages.map((m) => m.payload),
    ],
  };
  const queued = (rows: readonly Row[]) => {
    // A commit writes at most one message per (dataflow, profile).
    const ids = new Map(rows.map((r) => [`${r.dataflow_id}\n${r.profile_id}`, Number(r.id)]));
    return messages.map((m) => ({
      id: ids.get(`${m.dataflowId}\n${m.profileId}`) as number,
      sandbox,
      dataflowId: m.dataflowId,
      profileId: m.profileId,
      payload: m.payload,
      ingestedAt,
      attempts: 0,
      nextAttemptAt: createdAt,
    }));
  };
  return { statement, queued };
}

/** Writes a commit's messages on their own (see outboxWrite) and returns them as the dispatcher reads them. */
export async function queueMessages(
  db: Executor & { dialect: Dialect },
  sandbox: string,
  messages: readonly { dataflowId: string; profileId: string; payload: string }[],
  ingestedAt: Date,
): Promise<OutboxMessage[]> {
  if (!messages.length) return [];
  const { statement, queued } = outboxWrite(messages, sandbox, db.dialect, ingestedAt);
  return queued(await db.writeAll(sandbox, [statement]));
}

/** `id` is one of the integer-array parameter `$param`, in each engine's form. */
export function idIn(store: Pick<Store, "engine">, param: number): string {
  return store.engine === "postgres"
    ? `id = ANY($${param}::BIGINT[])`
    : `list_contains(CAST($${param} AS BIGINT[]), id)`;
}

/**
 * The oldest pending messages of every sandbox, in commit order. The outbox is the dispatcher's one
 * queue across sandboxes (each row names its sandbox), hence a global query.
 */
export async function readPending(db: Executor, limit: number): Promise<OutboxMessage[]> {
  const rows = await db.queryGlobal<OutboxRow>(
    `SELECT id, sandbox, dataflow_id, profile_id, payload, ingested_at, attempts, next_attempt_at
       FROM streaming_outbox WHERE state = 'pending' ORDER BY id LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    sandbox: r.sandbox,
    dataflowId: r.dataflow_id,
    profileId: r.profile_id,
    payload: r.payload,
    ingestedAt: r.ingested_at,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at,
  }));
}

/**
 * Reclaims the space of delivered messages for the next ones (PostgreSQL; DuckDB reclaims deleted
 * rows at its checkpoints). Every row of the outbox is deleted moments after it was written, and
 * autovacuum visits a table at most once a minute (`autovacuum_naptime`): in between the table
 * grows by a minute of messages (52 MiB at 10,000 events/s), each new page written to its file and
 * left to the kernel's writeback, and its indexes fill with dead entries the dispatcher's reads
 * step over. Vacuumed often, it stays a few pages that are used again.
 */
export async function vacuumOutbox(store: Pick<Store, "engine" | "queryGlobal">): Promise<void> {
  if (store.engine === "postgres") await store.queryGlobal("VACUUM streaming_outbox");
}

export interface FailedAttempt {
  id: number;
  attempts: number;
  error: string;
  /** When to try again; absent for a message that goes to the dead letters. */
  retryAt?: Date;
}

/**
 * Records a dispatch round's outcome in one transaction: delivered messages leave the outbox (only
 * now, after the destination acknowledged them), failed ones get their next attempt or become dead.
 */
export async function recordOutcome(
  store: Store,
  delivered: readonly number[],
  failed: readonly FailedAttempt[],
  now: Date,
): Promise<void> {
  if (!delivered.length && !failed.length) return;
  // The usual round: one statement, atomic on its own, instead of a transaction of one.
  if (!failed.length) {
    await store.queryGlobal(`DELETE FROM streaming_outbox WHERE ${idIn(store, 1)}`, [delivered]);
    return;
  }
  await store.transaction(async (tx) => {
    if (delivered.length) {
      await tx.queryGlobal(`DELETE FROM streaming_outbox WHERE ${idIn(store, 1)}`, [delivered]);
    }
    const retries = failed.filter((f) => f.retryAt);
    const dead = failed.filter((f) => !f.retryAt);
    const source = store.dialect.unnestColumns(
      [
        { name: "id", kind: "integer" },
        { name: "attempts", kind: "integer" },
        { name: "error", kind: "string" },
        { name: "retry_at", kind: "timestamp" },
      ],
      2,
    );
    for (const [list, state] of [
      [retries, "pending"],
      [dead, "dead"],
    ] as const) {
      if (!list.length) continue;
      await tx.queryGlobal(
        `UPDATE streaming_outbox SET attempts = s.attempts, last_error = s.error,
                next_attempt_at = COALESCE(s.retry_at, streaming_outbox.next_attempt_at),
                state = '${state}', dead_at = CASE WHEN '${state}' = 'dead' THEN CAST($1 AS TIMESTAMPTZ) END
           FROM (${source}) AS s WHERE streaming_outbox.id = s.id`,
        [
          now,
          list.map((f) => String(f.id)),
          list.map((f) => String(f.attempts)),
          list.map((f) => f.error.slice(0, 2000)),
          list.map((f) => (f.retryAt ? f.retryAt.toISOString() : null)),
        ],
      );
    }
  });
}
