import type { Store } from "../store/index.ts";

/** What waits in the outbox for one dataflow: messages not yet delivered, and dead letters. */
export interface OutboxBacklog {
  sandbox: string;
  dataflowId: string;
  pending: number;
  dead: number;
  /** When the oldest pending message was committed (null when none is pending). */
  oldestPendingAt: Date | null;
}

/**
 * The outbox per dataflow, for the metrics a scrape reads: how far behind delivery is (a paused
 * dataflow, a destination down) and how many dead letters wait for someone. One grouped scan of a
 * table that holds only what is undelivered.
 */
export async function outboxBacklog(store: Pick<Store, "queryGlobal">): Promise<OutboxBacklog[]> {
  const rows = await store.queryGlobal<{
    sandbox: string;
    dataflow_id: string;
    pending: number | bigint;
    dead: number | bigint;
    oldest_pending_at: Date | string | null;
  }>(
    `SELECT sandbox, dataflow_id,
            count(*) FILTER (WHERE state = 'pending') AS pending,
            count(*) FILTER (WHERE state = 'dead') AS dead,
            min(created_at) FILTER (WHERE state = 'pending') AS oldest_pending_at
       FROM streaming_outbox GROUP BY sandbox, dataflow_id ORDER BY sandbox, dataflow_id`,
  );
  return rows.map((r) => ({
    sandbox: r.sandbox,
    dataflowId: r.dataflow_id,
    pending: Number(r.pending),
    dead: Number(r.dead),
    oldestPendingAt: r.oldest_pending_at === null ? null : new Date(r.oldest_pending_at),
  }));
}
