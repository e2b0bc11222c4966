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

/** A dataflow of one sandbox, as the outbox names it. */
export interface DataflowRef {
  sandbox: string;
  dataflowId: string;
}

/**
 * The dataflows, of every sandbox, with pending messages. The outbox is the dispatcher's one queue
 * across sandboxes (each row names its sandbox), hence a global query. On PostgreSQL one probe of
 * the pending index per dataflow (a skip scan), whatever the number of messages.
 */
export async function pendingDataflows(store: Pick<Store, "engine" | "queryGlobal">): Promise<DataflowRef[]> {
  const rows = await store.queryGlobal<{ sandbox: string; dataflow_id: string }>(
    store.engine === "postgres"
      ? `WITH RECURSIVE listed AS (
           (SELECT sandbox, dataflow_id FROM streaming_outbox WHERE state = 'pending'
             ORDER BY sandbox, dataflow_id LIMIT 1)
           UNION ALL
           SELECT next.sandbox, next.dataflow_id FROM listed CROSS JOIN LATERAL (
             SELECT sandbox, dataflow_id FROM streaming_outbox
              WHERE state = 'pending' AND (sandbox, dataflow_id) > (listed.sandbox, listed.dataflow_id)
              ORDER BY sandbox, dataflow_id LIMIT 1) AS next)
         SELECT sandbox, dataflow_id FROM listed`
      : "SELECT DISTINCT sandbox, dataflow_id FROM streaming_outbox WHERE state = 'pending'",
  );
  return rows.map((r) => ({ sandbox: r.sandbox, dataflowId: r.dataflow_id }));
}

/** A dataflow to read, and the profile its read starts at (see `DataflowQueue.cursor`). */
export interface DataflowToRead extends DataflowRef {
  cursor: string;
}

/** What `readSendable` found for one dataflow. */
export interface DataflowQueue extends DataflowRef {
  /** The messages that may go now, in commit order. */
  messages: OutboxMessage[];
  /** Every pending message of the dataflow is among `messages` (none waits behind them). */
  complete: boolean;
  /**
   * Where the dataflow's next read starts: its profiles are visited in turn, a read going on from
   * the profile where the last one stopped ("" once it reached the last profile).
   */
  cursor: string;
  /** The read stopped for its limit, not for lack of messages: more may be sendable at once. */
  limited: boolean;
}

interface QueueRow {
  sandbox: string;
  dataflow_id: string;
  pending: number | bigint;
  visited: number | bigint | null;
  last_profile: string | null;
  id: number | bigint | null;
  profile_id: string | null;
  payload: string | null;
  ingested_at: Date | null;
  attempts: number | null;
  next_attempt_at: Date | null;
}

/**
 * The messages of the given dataflows that may be sent now, at most `perDataflow` of each: of each
 * (dataflow, profile) the oldest pending message, when its next attempt is due. A profile's later
 * messages wait until it left (order per profile); a message waiting for its backoff holds up its
 * profile, not the others; a dataflow not listed (paused, held) is not read at all. One statement,
 * so one snapshot: `complete` is exact for the messages returned.
 *
 * PostgreSQL visits each dataflow's profiles in turn, from the dataflow's cursor, one probe of
 * `streaming_outbox_profile_queue` per profile (a skip scan: the probe lands on the profile's oldest
 * message), and stops after `perDataflow` sendable ones or twice as many probes: the work grows
 * with what is returned, never with the number of messages waiting (a profile's backlog, another
 * dataflow's). DuckDB reads the listed dataflows' pending messages in one scan, oldest first.
 */
export async function readSendable(
  store: Pick<Store, "engine" | "queryGlobal">,
  dataflows: readonly DataflowToRead[],
  perDataflow: number,
  now: Date,
): Promise<DataflowQueue[]> {
  if (!dataflows.length) return [];
  const limit = Math.max(1, Math.floor(perDataflow));
  const columns = "o.id, o.profile_id, o.payload, o.ingested_at, o.attempts, o.next_attempt_at";
  const sql =
    store.engine === "postgres"
      ? `WITH RECURSIVE listed AS (
           SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS d(sandbox, dataflow_id, cursor)),
         visit AS (
           SELECT l.sandbox, l.dataflow_id, f.profile_id, f.id, f.due, 1 AS step, f.due::INT AS found
             FROM listed l CROSS JOIN LATERAL (
               SELECT profile_id, id, next_attempt_at <= CAST($4 AS TIMESTAMPTZ) AS due FROM streaming_outbox
                WHERE state = 'pending' AND sandbox = l.sandbox AND dataflow_id = l.dataflow_id
                  AND profile_id >= l.cursor
                ORDER BY profile_id, id LIMIT 1) AS f
           UNION ALL
           SELECT v.sandbox, v.dataflow_id, n.profile_id, n.id, n.due, v.step + 1, v.found + n.due::INT
             FROM visit v CROSS JOIN LATERAL (
               SELECT profile_id, id, next_attempt_at <= CAST($4 AS TIMESTAMPTZ) AS due FROM streaming_outbox
                WHERE state = 'pending' AND sandbox = v.sandbox AND dataflow_id = v.dataflow_id
                  AND profile_id > v.profile_id
                ORDER BY profile_id, id LIMIT 1) AS n
            WHERE v.found < $5 AND v.step < 2 * $5),
         visited AS (
           SELECT sandbox, dataflow_id, count(*) AS visited, max(profile_id) AS last_profile
             FROM visit GROUP BY sandbox, dataflow_id),
         counted AS MATERIALIZED (
           SELECT l.sandbox, l.dataflow_id, (
             SELECT count(*) FROM (
               SELECT 1 FROM streaming_outbox p
                WHERE p.state = 'pending' AND p.sandbox = l.sandbox AND p.dataflow_id = l.dataflow_id
                LIMIT $5 + 1) AS bounded) AS pending
             FROM listed l)
         SELECT c.sandbox, c.dataflow_id, c.pending, s.visited, s.last_profile, ${columns}
           FROM counted c
           LEFT JOIN visited s ON s.sandbox = c.sandbox AND s.dataflow_id = c.dataflow_id
           LEFT JOIN (visit h JOIN streaming_outbox o ON o.id = h.id AND h.due)
             ON h.sandbox = c.sandbox AND h.dataflow_id = c.dataflow_id
          ORDER BY o.id`
      : `WITH listed AS (
           SELECT unnest(CAST($1 AS VARCHAR[])) AS sandbox, unnest(CAST($2 AS VARCHAR[])) AS dataflow_id),
         queue AS (
           SELECT o.id, o.sandbox, o.dataflow_id, o.next_attempt_at,
                  row_number() OVER (PARTITION BY o.sandbox, o.dataflow_id, o.profile_id ORDER BY o.id) AS place
             FROM streaming_outbox o JOIN listed l ON o.sandbox = l.sandbox AND o.dataflow_id = l.dataflow_id
            WHERE o.state = 'pending'),
         counts AS (SELECT sandbox, dataflow_id, count(*) AS pending FROM queue GROUP BY sandbox, dataflow_id),
         due AS (
           SELECT id, row_number() OVER (PARTITION BY sandbox, dataflow_id ORDER BY id) AS rank
             FROM queue WHERE place = 1 AND next_attempt_at <= CAST($3 AS TIMESTAMPTZ)),
         heads AS (
           SELECT o.sandbox, o.dataflow_id, ${columns}
             FROM due JOIN streaming_outbox o ON o.id = due.id WHERE due.rank <= CAST($4 AS BIGINT))
         SELECT c.sandbox, c.dataflow_id, c.pending, NULL AS visited, NULL AS last_profile,
                ${columns.replaceAll("o.", "h.")}
           FROM counts c LEFT JOIN heads h ON h.sandbox = c.sandbox AND h.dataflow_id = c.dataflow_id
          ORDER BY h.id`;
  const names = [dataflows.map((d) => d.sandbox), dataflows.map((d) => d.dataflowId)];
  const rows = await store.queryGlobal<QueueRow>(
    sql,
    store.engine === "postgres"
      ? [...names, dataflows.map((d) => d.cursor), now, limit]
      : [...names, now, limit],
  );
  const found = new Map<string, { messages: OutboxMessage[]; row: QueueRow }>();
  for (const r of rows) {
    const key = `${r.sandbox}\n${r.dataflow_id}`;
    let queue = found.get(key);
    if (!queue) {
      queue = { messages: [], row: r };
      found.set(key, queue);
    }
    if (r.id === null) continue;
    queue.messages.push({
      id: Number(r.id),
      sandbox: r.sandbox,
      dataflowId: r.dataflow_id,
      profileId: r.profile_id as string,
      payload: r.payload as string,
      ingestedAt: r.ingested_at as Date,
      attempts: Number(r.attempts),
      nextAttemptAt: r.next_attempt_at as Date,
    });
  }
  return dataflows.map((d) => {
    const queue = found.get(`${d.sandbox}\n${d.dataflowId}`);
    // No row (DuckDB): its messages all left since it was listed.
    if (!queue) return { ...d, messages: [], complete: true, cursor: "", limited: false };
    const { messages, row } = queue;
    const complete = messages.length === Number(row.pending);
    // PostgreSQL reached the dataflow's last profile unless it stopped for one of its limits. More
    // may be sendable at once after a read stopped by them that found some (not after one that
    // found none among its probes: the messages it stepped over wait for their backoff), or after
    // one that started after the first profile.
    const probes = row.visited === null ? 0 : Number(row.visited);
    const reachedEnd = messages.length < limit && probes < 2 * limit;
    const startedAfterFirst = store.engine === "postgres" && d.cursor !== "";
    const limited = !complete && (reachedEnd ? startedAfterFirst : messages.length > 0);
    const cursor = reachedEnd ? "" : (row.last_profile ?? "");
    return { sandbox: d.sandbox, dataflowId: d.dataflowId, messages, complete, cursor, limited };
  });
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
