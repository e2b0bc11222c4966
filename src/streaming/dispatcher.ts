import type { Logger } from "pino";
import { type Dataflow, getDataflow } from "../activation/index.ts";
import {
  type AccountDeps,
  type OutboundRecord,
  openAccountConnection,
  retryAfterMsOf,
  type StreamLimits,
  type StreamSession,
  withDeadline,
} from "../destinations/index.ts";
import { isHeraldError, isRetryable } from "../errors/index.ts";
import {
  createRateLimiter,
  defaultRetryPolicy,
  type RateLimiter,
  type RetryPolicy,
  retryAt,
} from "./backoff.ts";
import type { StreamingMetrics } from "./metrics.ts";
import {
  type FailedAttempt,
  type OutboxMessage,
  readPending,
  recordOutcome,
  vacuumOutbox,
} from "./outbox.ts";

export interface DispatcherOptions extends AccountDeps {
  metrics: StreamingMetrics;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  /** Records per second per destination account (default 50,000). */
  recordsPerSecond?: number | ((accountId: string) => number);
  /** How often the outbox is polled when nothing woke the dispatcher (default 250 ms). */
  pollMs?: number;
  /**
   * The longest wait between reads while every message comes through the hand-over (default 2 s):
   * each read that finds only handed-over messages doubles the wait from `pollMs` up to this.
   */
  quietPollMs?: number;
  /** Messages read per round (default 5,000). */
  readLimit?: number;
  /** One batch's time to be acknowledged before it counts as failed (default 10 s). */
  sendTimeoutMs?: number;
  /**
   * How long delivered messages may wait to be deleted from the outbox together (default 100 ms).
   * A crash in between sends them again (at least once, as for a crash before the delete).
   */
  deleteEveryMs?: number;
  /**
   * Delivered messages deleted between two vacuums of the outbox (default 20,000; 0: leave it to
   * autovacuum). See `vacuumOutbox`.
   */
  vacuumEveryRows?: number;
  /**
   * The shortest time between two vacuums of the outbox (default 5 s): each scans the outbox's
   * indexes whole, which after an outage hold millions of messages while they are caught up on.
   */
  vacuumMinIntervalMs?: number;
}

interface Target {
  dataflow: Dataflow;
  session: StreamSession;
  limits: StreamLimits;
  loadedAt: number;
}

interface RoundResult {
  delivered: number;
  /** Milliseconds until something may be sent again, when nothing is sendable now. */
  waitMs: number;
  more: boolean;
}

const TARGET_TTL_MS = 2_000;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Splits records into batches within a connector's limits. */
function batchesOf(messages: readonly OutboxMessage[], limits: StreamLimits): OutboxMessage[][] {
  const batches: OutboxMessage[][] = [];
  let current: OutboxMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = Buffer.byteLength(message.payload);
    if (current.length && (current.length >= limits.maxBatchRecords || bytes + size > limits.maxBatchBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length) batches.push(current);
  return batches;
}

/** Runs `work` over items with at most `limit` at once. */
async function withConcurrency<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(workers);
}

/**
 * Delivers the outbox to each streaming dataflow's destination. Each round reads the oldest pending
 * messages, keeps only the first of each (dataflow, profile) — so a profile's messages arrive in
 * order, one at a time — batches them per destination within the connector's limits and rate, and
 * sends. A message leaves the outbox only after its destination acknowledged it; a failed one is
 * retried with exponential backoff and jitter, and after the last attempt (or at once, for an error
 * no retry can fix) it becomes a dead letter. A crash at any point resends, never loses.
 */
export function createDispatcher(options: DispatcherOptions) {
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...options.retry };
  const pollMs = options.pollMs ?? 250;
  const quietPollMs = Math.max(pollMs, options.quietPollMs ?? 2_000);
  const readLimit = options.readLimit ?? 5_000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 10_000;
  const rateOf = (accountId: string) =>
    typeof options.recordsPerSecond === "function"
      ? options.recordsPerSecond(accountId)
      : (options.recordsPerSecond ?? 50_000);
  const targets = new Map<string, Target>();
  const limiters = new Map<string, RateLimiter>();
  let stopped = true;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let woken = false;
  // Messages committed in this process since the last read of the outbox, in commit order. While
  // `clean` (the last read found nothing it did not deliver), a round sends these instead of
  // reading the outbox again; the outbox is still read every `pollMs`, and after anything else
  // (a failure, a message left for later, a replay), for what other processes wrote.
  let fresh: OutboxMessage[] = [];
  let clean = false;
  // The wait between reads while clean: a read of the outbox costs more the more messages were
  // delivered (their deleted rows' index entries until vacuum), and finds nothing new while the
  // hand-over brings everything; one that finds a message not handed over starts again at pollMs.
  let readEveryMs = pollMs;
  let mustRead = true;
  let lastRead = Number.NEGATIVE_INFINITY;
  // The ids of the last two reads: a read may see a commit before its hand-over arrives.
  let recentlyRead: Set<number>[] = [];
  // Delivered, not yet deleted: one DELETE (and commit) per `deleteEveryMs` rather than per round,
  // ~80 a second at 10,000 events/s. The rounds do not wait for it (under load a DELETE took
  // 20-70 ms, during which handed-over messages waited); a read of the outbox, which would see
  // them, does.
  const deleteEveryMs = options.deleteEveryMs ?? 100;
  let undeleted: number[] = [];
  let lastDelete = performance.now();
  // The DELETEs started, one after the other. It never rejects: a failed one puts its ids back for
  // the next and leaves its error to the next wait for them (before a read, or at stop).
  let deleting: Promise<void> = Promise.resolve();
  let deleteError: unknown;
  function startDelete() {
    if (!undeleted.length) return;
    const ids = undeleted;
    undeleted = [];
    lastDelete = performance.now();
    deleting = deleting.then(async () => {
      try {
        await recordOutcome(options.store, ids, [], new Date());
        vacuumAfter(ids.length);
      } catch (error) {
        // Kept for the next attempt: otherwise the next read would find them and send them again.
        undeleted = [...ids, ...undeleted];
        deleteError = error;
      }
    });
  }
  // One vacuum at a time, beside the rounds and the DELETEs (neither waits for it); a failed one is
  // only logged: autovacuum still comes.
  const vacuumEveryRows = options.vacuumEveryRows ?? 20_000;
  const vacuumMinIntervalMs = options.vacuumMinIntervalMs ?? 5_000;
  let deletedSinceVacuum = 0;
  let lastVacuum = Number.NEGATIVE_INFINITY;
  let vacuuming: Promise<void> | undefined;
  function vacuumAfter(deleted: number) {
    deletedSinceVacuum += deleted;
    if (vacuumEveryRows <= 0 || deletedSinceVacuum < vacuumEveryRows || vacuuming) return;
    if (performance.now() - lastVacuum < vacuumMinIntervalMs) return;
    deletedSinceVacuum = 0;
    lastVacuum = performance.now();
    vacuuming = vacuumOutbox(options.store)
      .catch((error: unknown) => options.logger?.warn({ err: error }, "vacuum of the outbox failed"))
      .finally(() => {
        vacuuming = undefined;
      });
  }
  /** Deletes what was delivered and waits for every DELETE started; throws if one failed. */
  async function deleteDelivered() {
    startDelete();
    await deleting;
    if (deleteError !== undefined) {
      const error = deleteError;
      deleteError = undefined;
      throw error;
    }
  }

  async function closeTarget(key: string) {
    const target = targets.get(key);
    targets.delete(key);
    await target?.session.close().catch(() => {});
  }

  /** The dataflow and an open session to its destination, reopened when the dataflow changed. */
  async function targetFor(sandbox: string, dataflowId: string): Promise<Target> {
    const key = `${sandbox}\n${dataflowId}`;
    const cached = targets.get(key);
    if (cached && performance.now() - cached.loadedAt < TARGET_TTL_MS) return cached;
    const dataflow = await getDataflow(options.store, sandbox, dataflowId);
    if (cached && cached.dataflow.updatedAt.getTime() === dataflow.updatedAt.getTime()) {
      cached.loadedAt = performance.now();
      cached.dataflow = dataflow;
      return cached;
    }
    await closeTarget(key);
    const { definition, connection } = await openAccountConnection(options, sandbox, dataflow.accountId);
    const { connector } = definition;
    if (connector.kind !== "stream") {
      throw new Error(`destination '${definition.id}' does not accept streamed records`);
    }
    const session = await connector.open(connection as never, dataflow.details as never);
    const target = { dataflow, session, limits: connector.limits, loadedAt: performance.now() };
    targets.set(key, target);
    return target;
  }

  function limiterFor(accountId: string): RateLimiter {
    let limiter = limiters.get(accountId);
    if (!limiter) {
      limiter = createRateLimiter(rateOf(accountId));
      limiters.set(accountId, limiter);
    }
    return limiter;
  }

  function failure(
    message: OutboxMessage,
    error: string,
    retryable: boolean,
    now: number,
    retryAfterMs?: number,
  ): FailedAttempt {
    const attempts = message.attempts + 1;
    if (retryable && attempts < policy.maxAttempts) {
      return { id: message.id, attempts, error, retryAt: retryAt(policy, attempts, now, retryAfterMs) };
    }
    return { id: message.id, attempts, error };
  }

  async function sendGroup(
    sandbox: string,
    dataflowId: string,
    messages: OutboxMessage[],
    delivered: number[],
    failed: FailedAttempt[],
  ): Promise<{ waitMs: number }> {
    let target: Target;
    try {
      target = await targetFor(sandbox, dataflowId);
    } catch (error) {
      const now = Date.now();
      // A deleted dataflow can never be delivered; anything else (a destination down at open) may recover.
      const permanent = isHeraldError(error) && error.kind === "not_found";
      for (const m of messages) failed.push(failure(m, describe(error), !permanent, now));
      return { waitMs: 0 };
    }
    if (target.dataflow.status !== "enabled") return { waitMs: pollMs };
    const { limits, session } = target;
    const sendable: OutboxMessage[] = [];
    for (const m of messages) {
      if (Buffer.byteLength(m.payload) > limits.maxRecordBytes) {
        failed.push(
          failure(
            m,
            `message of ${Buffer.byteLength(m.payload)} bytes exceeds the destination's ${limits.maxRecordBytes}`,
            false,
            Date.now(),
          ),
        );
      } else sendable.push(m);
    }
    const limiter = limiterFor(target.dataflow.accountId);
    const granted = limiter.take(sendable.length);
    const now = sendable.slice(0, granted);
    await withConcurrency(batchesOf(now, limits), limits.maxConcurrency, async (batch) => {
      const records: OutboundRecord[] = batch.map((m) => ({ key: m.profileId, json: m.payload }));
      try {
        const result = await withDeadline(sendTimeoutMs, undefined, (deadline) =>
          session.sendBatch(records, deadline),
        );
        const ackedAt = Date.now();
        const failedAt = new Map(result.failed.map((f) => [f.index, f]));
        batch.forEach((m, i) => {
          const f = failedAt.get(i);
          if (f) failed.push(failure(m, f.error, f.retryable, ackedAt));
          else {
            delivered.push(m.id);
            options.metrics.latency.observe((ackedAt - m.ingestedAt.getTime()) / 1000);
          }
        });
      } catch (error) {
        // Network faults and unknown errors may pass; a HeraldError says whether it can.
        const retryable = !isHeraldError(error) || isRetryable(error);
        const at = Date.now();
        const after = retryAfterMsOf(error);
        for (const m of batch) failed.push(failure(m, describe(error), retryable, at, after));
        await closeTarget(`${sandbox}\n${dataflowId}`);
      }
    });
    return { waitMs: granted < sendable.length ? limiter.waitMs() : 0 };
  }

  /** The messages to consider this round: the hand-over while clean, else the outbox's oldest. */
  async function pendingMessages(): Promise<{ pending: OutboxMessage[]; read: boolean }> {
    if (clean && !mustRead && performance.now() - lastRead < readEveryMs) {
      const pending = fresh;
      fresh = [];
      return { pending, read: false };
    }
    const safetyRead = clean && !mustRead;
    mustRead = false;
    await deleteDelivered();
    lastRead = performance.now();
    const pending = await readPending(options.store, readLimit);
    const handedOver = new Set(fresh.map((m) => m.id));
    const quiet = safetyRead && pending.every((m) => handedOver.has(m.id));
    readEveryMs = quiet ? Math.min(readEveryMs * 2, quietPollMs) : pollMs;
    // What the read returned is handled now; what was committed after it stays for the next round.
    const read = new Set(pending.map((m) => m.id));
    recentlyRead = [read, ...recentlyRead.slice(0, 1)];
    fresh = fresh.filter((m) => !read.has(m.id));
    return { pending, read: true };
  }

  /** One round: read, pick, send, record. */
  async function round(): Promise<RoundResult> {
    const { pending, read } = await pendingMessages();
    clean = false;
    const now = Date.now();
    const seen = new Set<string>();
    const groups = new Map<string, OutboxMessage[]>();
    let waitMs = pollMs;
    for (const m of pending) {
      const key = `${m.sandbox}\n${m.dataflowId}\n${m.profileId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const due = m.nextAttemptAt.getTime() - now;
      if (due > 0) {
        waitMs = Math.min(waitMs, due);
        continue;
      }
      const group = `${m.sandbox}\n${m.dataflowId}`;
      const list = groups.get(group);
      if (list) list.push(m);
      else groups.set(group, [m]);
    }
    const delivered: number[] = [];
    const failed: FailedAttempt[] = [];
    const waits = await Promise.all(
      [...groups].map(([group, messages]) => {
        const [sandbox, dataflowId] = group.split("\n") as [string, string];
        return sendGroup(sandbox, dataflowId, messages, delivered, failed);
      }),
    );
    for (const w of waits) if (w.waitMs > 0) waitMs = Math.min(waitMs, w.waitMs);
    if (failed.length) {
      // A failure's attempt is counted at once; the delivered go with it.
      const deleted = [...undeleted, ...delivered];
      await recordOutcome(options.store, deleted, failed, new Date());
      vacuumAfter(deleted.length);
      undeleted = [];
      lastDelete = performance.now();
    } else {
      undeleted.push(...delivered);
      if (performance.now() - lastDelete >= deleteEveryMs || undeleted.length >= readLimit) startDelete();
    }
    options.metrics.delivered.inc(delivered.length);
    const retried = failed.filter((f) => f.retryAt).length;
    options.metrics.retried.inc(retried);
    options.metrics.deadLettered.inc(failed.length - retried);
    for (const f of failed.filter((x) => !x.retryAt)) {
      options.logger?.warn({ outboxId: f.id, attempts: f.attempts, error: f.error }, "message dead-lettered");
    }
    // Clean when nothing this round considered is left in the outbox (and the read saw it all).
    clean = delivered.length === pending.length && (!read || pending.length < readLimit);
    const more = pending.length >= readLimit || delivered.length > 0 || failed.length > 0 || fresh.length > 0;
    return { delivered: delivered.length, waitMs, more };
  }

  async function run() {
    while (!stopped) {
      woken = false;
      let result: RoundResult = { delivered: 0, waitMs: pollMs, more: false };
      try {
        result = await round();
      } catch (error) {
        options.logger?.error({ err: error }, "streaming dispatch round failed");
      }
      if (stopped) break;
      if (result.more || woken) continue;
      // Waking, at the latest, when the delivered messages are due to be deleted (the round does it).
      const waitMs = undeleted.length
        ? Math.min(result.waitMs, deleteEveryMs - (performance.now() - lastDelete))
        : result.waitMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, waitMs));
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      loop = run();
    },
    /** Messages just committed by this process: send them now, without reading the outbox. */
    offer(messages: readonly OutboxMessage[]) {
      for (const m of messages) if (!recentlyRead.some((ids) => ids.has(m.id))) fresh.push(m);
      // Bounded: past one read's worth, the outbox is read instead.
      if (fresh.length > readLimit) {
        fresh = [];
        mustRead = true;
      }
      woken = true;
      wakeUp?.();
    },
    /** The outbox changed some other way (a replay): read it now instead of at the next poll. */
    wake() {
      mustRead = true;
      woken = true;
      wakeUp?.();
    },
    /** Rounds until nothing is sendable now (tests; `herald start` runs the loop instead). */
    async dispatchNow(): Promise<number> {
      let total = 0;
      for (;;) {
        const result = await round();
        total += result.delivered;
        if (!result.more) {
          await deleteDelivered();
          return total;
        }
      }
    },
    async stop() {
      stopped = true;
      wakeUp?.();
      await loop;
      await deleteDelivered();
      await vacuuming;
      loop = undefined;
      for (const key of [...targets.keys()]) await closeTarget(key);
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
