import { validationError } from "../errors/index.ts";
import type { Store } from "../store/index.ts";
import { idIn } from "./outbox.ts";

/** A message that ran out of attempts (or failed in a way no retry fixes), kept until replayed or discarded. */
export interface DeadLetter {
  id: number;
  dataflowId: string;
  profileId: string;
  payload: Record<string, unknown>;
  attempts: number;
  lastError: string | null;
  ingestedAt: Date;
  deadAt: Date | null;
}

interface DeadRow {
  id: number | bigint;
  dataflow_id: string;
  profile_id: string;
  payload: string;
  attempts: number;
  last_error: string | null;
  ingested_at: Date;
  dead_at: Date | null;
}

/** Which dead letters an action applies to: listed ids, or every one (of one dataflow). */
export interface DeadLetterSelection {
  ids?: readonly number[];
  dataflowId?: string;
}

function where(store: Store, selection: DeadLetterSelection, firstParam: number) {
  const clauses = ["sandbox = $sandbox", "state = 'dead'"];
  const params: unknown[] = [];
  if (selection.ids) {
    params.push(selection.ids);
    clauses.push(idIn(store, firstParam + params.length - 1));
  }
  if (selection.dataflowId) {
    params.push(selection.dataflowId);
    clauses.push(`dataflow_id = $${firstParam + params.length - 1}`);
  }
  return { sql: clauses.join(" AND "), params };
}

export async function listDeadLetters(
  store: Store,
  sandbox: string,
  options: { dataflowId?: string; limit?: number; offset?: number } = {},
): Promise<{ items: DeadLetter[]; total: number }> {
  const limit = options.limit ?? 100;
  const offset = options.offset ?? 0;
  const filter = where(store, { dataflowId: options.dataflowId }, 1);
  const [count] = await store.query<{ total: number | bigint }>(
    sandbox,
    `SELECT count(*) AS total FROM streaming_outbox WHERE ${filter.sql}`,
    filter.params,
  );
  const rows = await store.query<DeadRow>(
    sandbox,
    `SELECT id, dataflow_id, profile_id, payload, attempts, last_error, ingested_at, dead_at
       FROM streaming_outbox WHERE ${filter.sql} ORDER BY id
      LIMIT ${Math.floor(limit)} OFFSET ${Math.floor(offset)}`,
    filter.params,
  );
  return {
    total: Number(count?.total ?? 0),
    items: rows.map((r) => ({
      id: Number(r.id),
      dataflowId: r.dataflow_id,
      profileId: r.profile_id,
      payload: JSON.parse(r.payload) as Record<string, unknown>,
      attempts: Number(r.attempts),
      lastError: r.last_error,
      ingestedAt: r.ingested_at,
      deadAt: r.dead_at,
    })),
  };
}

function requireSelection(selection: DeadLetterSelection, all: boolean | undefined) {
  if (!selection.ids?.length && !all && !selection.dataflowId) {
    throw validationError("give ids, a dataflowId, or all: true", [
      { field: "ids", message: "nothing selected" },
    ]);
  }
}

/**
 * What a replay or discard did: how many dead letters it took, and the ids asked for that it did
 * not take (not a dead letter of this sandbox: unknown, discarded, already replayed, or, for a
 * replay, of a dataflow deleted since, which could only fail again).
 */
export interface DeadLetterOutcome {
  count: number;
  notTaken: number[];
}

function outcome(
  selection: DeadLetterSelection,
  taken: readonly { id: number | bigint }[],
): DeadLetterOutcome {
  const ids = new Set(taken.map((r) => Number(r.id)));
  return { count: ids.size, notTaken: (selection.ids ?? []).filter((id) => !ids.has(id)) };
}

/**
 * Puts dead letters back in the outbox with fresh attempts, sent at the next dispatch. A replayed
 * message may arrive after newer messages of the same profile that were delivered meanwhile.
 * Letters of a deleted dataflow stay dead (discard them): they have nowhere to go.
 */
export async function replayDeadLetters(
  store: Store,
  sandbox: string,
  selection: DeadLetterSelection & { all?: boolean },
  now = new Date(),
): Promise<DeadLetterOutcome> {
  requireSelection(selection, selection.all);
  const filter = where(store, selection, 2);
  const rows = await store.transaction((tx) =>
    tx.query<{ id: number }>(
      sandbox,
      `UPDATE streaming_outbox SET state = 'pending', attempts = 0, next_attempt_at = CAST($1 AS TIMESTAMPTZ), dead_at = NULL
        WHERE ${filter.sql}
          AND dataflow_id IN (SELECT id FROM dataflows WHERE sandbox = $sandbox) RETURNING id`,
      [now, ...filter.params],
    ),
  );
  return outcome(selection, rows);
}

/** Deletes dead letters for good. */
export async function discardDeadLetters(
  store: Store,
  sandbox: string,
  selection: DeadLetterSelection & { all?: boolean },
): Promise<DeadLetterOutcome> {
  requireSelection(selection, selection.all);
  const filter = where(store, selection, 1);
  const rows = await store.transaction((tx) =>
    tx.query<{ id: number }>(
      sandbox,
      `DELETE FROM streaming_outbox WHERE ${filter.sql} RETURNING id`,
      filter.params,
    ),
  );
  return outcome(selection, rows);
}
