import type { Logger } from "pino";
import type { AccountDeps } from "../destinations/index.ts";
import type { RetryPolicy } from "./backoff.ts";
import { batchChangesToOutbox } from "./batch-changes.ts";
import { createDispatcher } from "./dispatcher.ts";
import { createStreamingIngest } from "./ingest-service.ts";
import { createLease } from "./lease.ts";
import { createStreamingMetrics, metricsView } from "./metrics.ts";
import { createPlanCache } from "./streaming-plan.ts";
import { createSweeper } from "./sweep.ts";

export interface StreamingServiceOptions {
  logger?: Logger;
  /** The clock of membership changes and windows; tests pass a controllable one. */
  now?: () => Date;
  lingerMs?: number;
  maxRecordsPerCommit?: number;
  /** Ingestion transactions at once (default 2 on PostgreSQL, 1 on DuckDB). */
  commitLanes?: number;
  lookbackMs?: number;
  retry?: Partial<RetryPolicy>;
  recordsPerSecond?: number | ((accountId: string) => number);
  pollMs?: number;
  quietPollMs?: number;
  deleteEveryMs?: number;
  vacuumEveryRows?: number;
  vacuumMinIntervalMs?: number;
  sweepIntervalMs?: number;
  sendTimeoutMs?: number;
  /** On PostgreSQL, how often a process that does not lead tries to (and the leader checks its lease). */
  leaseRetryMs?: number;
}

/** The lock whose holder, one process per database, runs the dispatcher and the sweep. */
export const DISPATCHER_LEASE = "herald.streaming.dispatcher";

/**
 * The real-time path, assembled: ingestion (commits, evaluation, outbox), the dispatcher and the
 * time-based exit sweep, sharing one plan cache and one set of metrics. Ingestion works as soon as
 * it is created; `start` runs the background dispatcher and sweep (`herald start` does).
 */
export function createStreamingService(deps: AccountDeps, options: StreamingServiceOptions = {}) {
  const metrics = createStreamingMetrics(deps.store);
  const plans = createPlanCache(options.logger);
  const dispatcher = createDispatcher({
    ...deps,
    metrics,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.recordsPerSecond !== undefined ? { recordsPerSecond: options.recordsPerSecond } : {}),
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
    ...(options.quietPollMs !== undefined ? { quietPollMs: options.quietPollMs } : {}),
    ...(options.deleteEveryMs !== undefined ? { deleteEveryMs: options.deleteEveryMs } : {}),
    ...(options.vacuumEveryRows !== undefined ? { vacuumEveryRows: options.vacuumEveryRows } : {}),
    ...(options.vacuumMinIntervalMs !== undefined
      ? { vacuumMinIntervalMs: options.vacuumMinIntervalMs }
      : {}),
    ...(options.sendTimeoutMs !== undefined ? { sendTimeoutMs: options.sendTimeoutMs } : {}),
  });
  const ingest = createStreamingIngest({
    store: deps.store,
    plans,
    metrics,
    // A standby's commits are sent by the leader, which reads them from the outbox.
    onQueued: (messages) => {
      if (!lease.standingBy) dispatcher.offer(messages);
    },
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
    ...(options.maxRecordsPerCommit !== undefined ? { maxRecords: options.maxRecordsPerCommit } : {}),
    ...(options.commitLanes !== undefined ? { lanes: options.commitLanes } : {}),
    ...(options.lookbackMs !== undefined ? { lookbackMs: options.lookbackMs } : {}),
  });
  const sweeper = createSweeper({
    store: deps.store,
    ingest,
    plans,
    ...(options.now ? { now: options.now } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.sweepIntervalMs !== undefined ? { intervalMs: options.sweepIntervalMs } : {}),
  });
  // Two processes on one PostgreSQL store would each send every message, in no common order.
  const lease = createLease({
    store: deps.store,
    name: DISPATCHER_LEASE,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.leaseRetryMs !== undefined ? { retryMs: options.leaseRetryMs } : {}),
    lead() {
      // What was handed over before leading may have been sent by the previous leader: the first
      // round reads the outbox instead.
      dispatcher.wake();
      dispatcher.start();
      sweeper.start();
    },
    async standDown() {
      await sweeper.stop();
      await dispatcher.stop();
    },
  });
  return {
    ingest,
    dispatcher,
    sweeper,
    metrics,
    /** Queues the batch evaluation's changes of streamed segments (given to the segments part). */
    batchChanges: batchChangesToOutbox(plans),
    metricsJson: () => metricsView(metrics),
    metricsText: () => metrics.registry.metrics(),
    metricsContentType: metrics.registry.contentType,
    lease,
    /** Runs the dispatcher and the sweep once this process leads (at once on DuckDB). */
    start() {
      lease.start();
    },
    /**
     * Stops the sweep, commits what is queued, lets the dispatcher finish its round, then lets the
     * lease go to a standby.
     */
    async stop() {
      await sweeper.stop();
      await ingest.close();
      await lease.stop();
      await dispatcher.stop();
    },
  };
}

export type StreamingService = ReturnType<typeof createStreamingService>;
