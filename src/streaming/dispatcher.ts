import { hash } from "node:crypto";
import type { Logger } from "pino";
import { type Dataflow, dataflowViolations, getDataflow } from "../activation/index.ts";
import {
  type AccountDeps,
  accountVersion,
  type BatchResult,
  type OutboundRecord,
  openAccountConnection,
  retryAfterMsOf,
  type StreamLimits,
  type StreamSession,
  withDeadline,
} from "../destinations/index.ts";
import { isHeraldError } from "../errors/index.ts";
import { scrubSecrets } from "../errors/scrub.ts";
import {
  createDataflowHolds,
  createRateLimiter,
  defaultRetryPolicy,
  type RateLimiter,
  type RetryPolicy,
  retryAt,
} from "./backoff.ts";
import type { StreamingMetrics } from "./metrics.ts";
import {
  type DataflowRef,
  type DataflowToRead,
  type FailedAttempt,
  type OutboxMessage,
  pendingDataflows,
  readSendable,
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
  /**
   * An open session holds unsealed credentials: the key is asked again at least this often
   * (default 60 s), so a revoked customer-managed key stops the stream within a minute and a
   * restored one resumes it.
   */
  keyRecheckMs?: number;
  /** Messages read per round (default 5,000), shared among the dataflows that may be sent to. */
  readLimit?: number;
  /**
   * One batch's time to be acknowledged before it counts as a failed send (default 10 s): one
   * request's, where the session's limits make a batch one request (HTTP).
   */
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

/**
 * A dataflow as last loaded (undefined: deleted), with its account's version (when it last changed,
 * its own rate), reloaded after TARGET_TTL_MS.
 */
interface KnownDataflow {
  dataflow: Dataflow | undefined;
  account: Awaited<ReturnType<typeof accountVersion>>;
  /** The first policy it violates when loaded (src/governance): held like a paused dataflow. */
  violation: string | undefined;
  loadedAt: number;
}

/** Whether messages of the dataflow, as last loaded, may go: enabled and violating no policy. */
const mayBeSent = (known: KnownDataflow | undefined) =>
  known?.dataflow?.status === "enabled" && known.violation === undefined;

/** An open session to a dataflow's destination, reopened when the dataflow or its account changed. */
interface OpenSession {
  session: StreamSession;
  limits: StreamLimits;
  /** The dataflow's and the account's last changes the session was opened with. */
  version: string;
  /** When the account's credentials were last unsealed, i.e. the key last used (performance.now()). */
  keyUsedAt: number;
}

interface RoundResult {
  delivered: number;
  /** Milliseconds until something may be sent again, when nothing is sendable now. */
  waitMs: number;
  more: boolean;
}

const TARGET_TTL_MS = 2_000;

const keyOf = (m: DataflowRef) => `${m.sandbox}\n${m.dataflowId}`;

/**
 * A message's partition (and ordering) key: the hex SHA-256 of its dataflow's id and its profile id.
 * The same for every message of a profile in the dataflow (one Kinesis shard, one event hub
 * partition: their order holds), and it reveals nothing of the id (an email, a phone number) that
 * the mapping may hash or leave out: unlike the SHA-256 of an email alone, which lists of hashed
 * emails (what advertising platforms hold) would match, it cannot be matched without the dataflow's
 * id, which messages do not carry. 0.4 µs a message, as much as the plain SHA-256 (an HMAC: 1.8 µs).
 */
const partitionKeyOf = (m: OutboxMessage) => hash("sha256", `${m.dataflowId}\n${m.profileId}`, "hex");

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
 * Delivers the outbox to each streaming dataflow's destination. Each round takes the messages that
 * may go now — of each (dataflow, profile) the oldest pending message, when due, of the dataflows
 * that are enabled — so a profile's messages arrive in order, one at a time, and a dataflow that
 * cannot be sent to holds up no other. It batches them per destination within the connector's
 * limits and rate, and sends. A message leaves the outbox only after its destination acknowledged
 * it. A send that fails whole holds its dataflow (exponential backoff with jitter) and counts an
 * attempt for each of its messages; a record the destination refused is a dead letter at once; after
 * the last attempt a message becomes a dead letter. A crash at any point resends, never loses.
 */
export function createDispatcher(options: DispatcherOptions) {
  const policy: RetryPolicy = { ...defaultRetryPolicy, ...options.retry };
  const pollMs = options.pollMs ?? 250;
  const quietPollMs = Math.max(pollMs, options.quietPollMs ?? 2_000);
  const readLimit = options.readLimit ?? 5_000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 10_000;
  const keyRecheckMs = options.keyRecheckMs ?? 60_000;
  // The account's own rate when it has one, else the configured one.
  const rateOf = (accountId: string, own: number | undefined) =>
    own ??
    (typeof options.recordsPerSecond === "function"
      ? options.recordsPerSecond(accountId)
      : (options.recordsPerSecond ?? 50_000));
  const known = new Map<string, KnownDataflow>();
  const sessions = new Map<string, OpenSession>();
  const limiters = new Map<string, { limiter: RateLimiter; perSecond: number }>();
  let stopped = true;
  let loop: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let woken = false;
  // Messages committed in this process since the last read of the outbox, in commit order. A round
  // sends these instead of reading the outbox again, for each dataflow that is not `behind`; the
  // outbox is still read every `pollMs` (up to `quietPollMs`) for what other processes wrote.
  let fresh: OutboxMessage[] = [];
  // Dataflows with pending messages in the outbox that this process does not hold in memory: left
  // by the last read (more than it took, a message not due, a later message of a profile), by a
  // round (a failure, the rate limit), or paused. Their handed-over messages stay in the outbox, to
  // go in order through a read once the dataflow may be sent to again.
  let behind = new Set<string>();
  // Dataflows whose last send failed whole: not tried before their hold ends.
  const holds = createDataflowHolds(policy);
  // Messages refused in a request of several, each sent alone next (see `refusedRecords`).
  const alone = new Set<number>();
  // Where each dataflow's next read goes on among its profiles (see `readSendable`).
  const cursors = new Map<string, string>();
  // The wait between reads while nothing is behind: a read of the outbox costs more the more
  // messages were delivered (their deleted rows' index entries until vacuum), and finds nothing new
  // while the hand-over brings everything; one that finds a message not handed over starts again at
  // pollMs.
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

  /** The dataflow, loaded at most TARGET_TTL_MS ago; undefined once it was deleted. */
  async function lookUp(ref: DataflowRef): Promise<Dataflow | undefined> {
    const key = keyOf(ref);
    const cached = known.get(key);
    if (cached && performance.now() - cached.loadedAt < TARGET_TTL_MS) return cached.dataflow;
    let dataflow: Dataflow | undefined;
    try {
      dataflow = await getDataflow(options.store, ref.sandbox, ref.dataflowId);
    } catch (error) {
      if (!(isHeraldError(error) && error.kind === "not_found")) throw error;
    }
    const account = dataflow && (await accountVersion(options.store, ref.sandbox, dataflow.accountId));
    const violation = await policyViolation(ref, dataflow, cached?.violation);
    known.set(key, { dataflow, account, violation, loadedAt: performance.now() });
    return dataflow;
  }

  /**
   * The first enabled policy an enabled dataflow violates now (a policy enabled or a label added
   * after it was activated): its messages are held, as a paused dataflow's are, until the
   * violation is resolved. Logged once when it starts and once when it ends.
   */
  async function policyViolation(
    ref: DataflowRef,
    dataflow: Dataflow | undefined,
    before: string | undefined,
  ) {
    if (dataflow?.status !== "enabled") return undefined;
    const [first] = await dataflowViolations(options, ref.sandbox, dataflow);
    const violation = first?.message;
    if (violation && violation !== before)
      options.logger?.warn(
        { dataflowId: ref.dataflowId, violation },
        "streaming held: the dataflow violates a policy",
      );
    if (!violation && before)
      options.logger?.info(
        { dataflowId: ref.dataflowId },
        "streaming resumed: the policy violation is resolved",
      );
    return violation;
  }

  /**
   * Whether the dataflow may be sent to, as far as known: not held, and enabled when last loaded
   * (or never loaded: a send will tell).
   */
  const sendableAsKnown = (key: string) => {
    if (holds.heldUntil(key, Date.now()) !== undefined) return false;
    const cached = known.get(key);
    return !cached?.dataflow || mayBeSent(cached);
  };

  async function closeSession(key: string) {
    const open = sessions.get(key);
    sessions.delete(key);
    await open?.session.close().catch(() => {});
  }

  /**
   * An open session to the dataflow's destination, reopened when the dataflow changed or its
   * account did (new credentials: the next send uses them).
   */
  async function sessionFor(sandbox: string, dataflow: Dataflow): Promise<OpenSession> {
    const key = keyOf({ sandbox, dataflowId: dataflow.id });
    const account = known.get(key)?.account;
    const version = `${dataflow.updatedAt.getTime()}|${account?.updatedAt.getTime() ?? ""}`;
    const open = sessions.get(key);
    if (open && open.version === version) {
      if (performance.now() - open.keyUsedAt < keyRecheckMs) return open;
      await openAccountConnection(options, sandbox, dataflow.accountId).catch(async (error: unknown) => {
        await closeSession(key);
        throw error;
      });
      open.keyUsedAt = performance.now();
      return open;
    }
    await closeSession(key);
    const { definition, connection } = await openAccountConnection(options, sandbox, dataflow.accountId);
    const { connector } = definition;
    if (connector.kind !== "stream") {
      throw new Error(`destination '${definition.id}' does not accept streamed records`);
    }
    const session = await connector.open(connection as never, dataflow.details as never);
    const limits = session.limits ?? connector.limits;
    const opened = { session, limits, version, keyUsedAt: performance.now() };
    sessions.set(key, opened);
    return opened;
  }

  /** The account's token bucket, made anew when its rate changed. */
  function limiterFor(accountId: string, own: number | undefined): RateLimiter {
    const perSecond = rateOf(accountId, own);
    let entry = limiters.get(accountId);
    if (entry?.perSecond !== perSecond) {
      entry = { limiter: createRateLimiter(perSecond), perSecond };
      limiters.set(accountId, entry);
    }
    return entry.limiter;
  }

  /**
   * What a round did with its messages: `left` stay pending, untouched, for a later round;
   * `waitMs`, how long until the rate limit lets the next record through.
   */
  interface Outcome {
    delivered: number[];
    failed: FailedAttempt[];
    left: OutboxMessage[];
    waitMs: number;
  }

  /**
   * One more attempt of `message`, failed: tried again at `retryAt` while attempts remain, a dead
   * letter after the last one (or at once, without `retryAt`).
   */
  /**
   * A message's failed attempt, its error kept as dead letters and logs show it: without the
   * credentials a library or an endpoint's answer may quote (URLs' user:pw@ and queries, keys).
   */
  function failedAttempt(message: OutboxMessage, failure: string, retryAt?: Date): FailedAttempt {
    const error = scrubSecrets(failure);
    const attempts = message.attempts + 1;
    if (retryAt && attempts < policy.maxAttempts) return { id: message.id, attempts, error, retryAt };
    return { id: message.id, attempts, error };
  }

  /**
   * The records a destination answered for but did not take. Refused retryably (that record
   * throttled, its partition busy): tried again after its own backoff. Refused all alike in a
   * request of several (an HTTP 400 or 413 for the request): one of them may be at fault, so each
   * goes again alone, the next round. Otherwise the destination refused that record (a 400, 413 or
   * 422 for a request of one, a record too large): a dead letter at once, since no wait changes it.
   */
  function refusedRecords(
    batch: readonly OutboxMessage[],
    result: BatchResult,
    at: number,
    outcome: Outcome,
  ) {
    const refused = new Map(result.failed.map((f) => [f.index, f]));
    const first = result.failed[0];
    const requestRefused =
      batch.length > 1 &&
      result.failed.length === batch.length &&
      result.failed.every((f) => !f.retryable && f.error === first?.error);
    batch.forEach((m, i) => {
      const f = refused.get(i);
      if (!f) {
        outcome.delivered.push(m.id);
        options.metrics.latency.observe((at - m.ingestedAt.getTime()) / 1000);
      } else if (f.retryable) {
        outcome.failed.push(failedAttempt(m, f.error, retryAt(policy, m.attempts + 1, at)));
      } else if (requestRefused) {
        alone.add(m.id);
        outcome.failed.push(failedAttempt(m, f.error, new Date(at)));
      } else {
        outcome.failed.push(failedAttempt(m, f.error));
      }
    });
  }

  /**
   * A dataflow's messages this round, sent in batches within its destination's limits and rate.
   * A send that fails whole (no answer, a timeout, 5xx, throttling, credentials refused: whatever
   * the destination or its settings may fix while the messages wait) holds the dataflow (see
   * `createDataflowHolds`): each message of the batch counts an attempt and waits for the hold's
   * end, the batches not yet sent stay as they were, and no message of the dataflow is tried before
   * the hold ends. Only what the destination refused record by record skips the wait.
   */
  async function sendGroup(ref: DataflowRef, messages: OutboxMessage[], outcome: Outcome): Promise<void> {
    const key = keyOf(ref);
    let dataflow: Dataflow | undefined;
    try {
      dataflow = await lookUp(ref);
    } catch (error) {
      // The store, not the destination, failed: no attempt counted; they wait for a later round.
      options.logger?.warn({ err: error, dataflowId: ref.dataflowId }, "could not load a streaming dataflow");
      outcome.left.push(...messages);
      return;
    }
    if (!dataflow || !mayBeSent(known.get(key))) {
      // Deleted: they can never be delivered. Paused or violating a policy: they wait, in order,
      // for it to resume or the violation to be resolved.
      if (dataflow) outcome.left.push(...messages);
      else for (const m of messages) outcome.failed.push(failedAttempt(m, "the dataflow was deleted"));
      return;
    }
    if (holds.heldUntil(key, Date.now()) !== undefined) {
      outcome.left.push(...messages);
      return;
    }
    let heldUntil: Date | undefined;
    const hold = async (batch: readonly OutboxMessage[], error: unknown) => {
      if (!heldUntil) {
        heldUntil = new Date(holds.failed(key, Date.now(), retryAfterMsOf(error)));
        // Once per hold (at most once per backoff): a held stream is otherwise silent.
        options.logger?.warn(
          {
            dataflowId: ref.dataflowId,
            failedSends: holds.failures(key),
            until: heldUntil.toISOString(),
            error: scrubSecrets(describe(error)),
          },
          "streaming dataflow held: its destination failed the send; its messages wait",
        );
      }
      for (const m of batch) outcome.failed.push(failedAttempt(m, describe(error), heldUntil));
      await closeSession(key);
    };
    let open: OpenSession;
    try {
      open = await sessionFor(ref.sandbox, dataflow);
    } catch (error) {
      await hold(messages, error);
      return;
    }
    const { limits, session } = open;
    const sendable: OutboxMessage[] = [];
    for (const m of messages) {
      const bytes = Buffer.byteLength(m.payload);
      if (bytes > limits.maxRecordBytes) {
        outcome.failed.push(
          failedAttempt(m, `message of ${bytes} bytes exceeds the destination's ${limits.maxRecordBytes}`),
        );
      } else sendable.push(m);
    }
    const limiter = limiterFor(dataflow.accountId, known.get(key)?.account?.recordsPerSecond);
    const granted = limiter.take(sendable.length);
    outcome.left.push(...sendable.slice(granted));
    if (granted < sendable.length) outcome.waitMs = Math.min(outcome.waitMs, limiter.waitMs());
    const sendingNow = sendable.slice(0, granted);
    const batches = [
      ...batchesOf(
        sendingNow.filter((m) => !alone.has(m.id)),
        limits,
      ),
      ...sendingNow.filter((m) => alone.has(m.id)).map((m) => [m]),
    ];
    await withConcurrency(batches, limits.maxConcurrency, async (batch) => {
      if (heldUntil) {
        outcome.left.push(...batch);
        return;
      }
      const records: OutboundRecord[] = batch.map((m) => ({ key: partitionKeyOf(m), json: m.payload }));
      let result: BatchResult;
      try {
        result = await withDeadline(sendTimeoutMs, undefined, (deadline) =>
          session.sendBatch(records, deadline),
        );
      } catch (error) {
        await hold(batch, error);
        return;
      }
      if (holds.failures(key) > 0) {
        options.logger?.info(
          { dataflowId: ref.dataflowId },
          "streaming dataflow resumed: its destination answered",
        );
      }
      holds.answered(key);
      refusedRecords(batch, result, Date.now(), outcome);
    });
  }

  /**
   * Why the next round reads the outbox rather than sending only what it was handed: `time` for the
   * periodic read, `left` for what the outbox holds that the hand-over cannot send.
   */
  function readDue(): "left" | "time" | undefined {
    if (mustRead) return "left";
    // A dataflow left behind that may be sent to: only a read takes its messages in order.
    for (const key of behind) if (sendableAsKnown(key)) return "left";
    return performance.now() - lastRead >= readEveryMs ? "time" : undefined;
  }

  /**
   * The messages to consider this round: the hand-over's, of dataflows not behind, or else what the
   * outbox holds that may be sent now (`full`: more may be, at once).
   */
  async function pendingMessages(): Promise<{ pending: OutboxMessage[]; full: boolean }> {
    const reason = readDue();
    if (!reason) {
      const pending: OutboxMessage[] = [];
      for (const m of fresh) {
        // Behind (or paused, held): the message waits in the outbox for a read, after the older ones.
        if (behind.has(keyOf(m)) || !sendableAsKnown(keyOf(m))) behind.add(keyOf(m));
        else pending.push(m);
      }
      fresh = [];
      return { pending, full: false };
    }
    mustRead = false;
    await deleteDelivered();
    lastRead = performance.now();
    // Handed over before the read: committed before it, so the read sees each of them, or leaves it
    // (and its dataflow behind) for a later one. What is handed over while it runs stays in `fresh`.
    const handedOver = new Set(fresh.map((m) => m.id));
    fresh = [];
    const listed = await pendingDataflows(options.store);
    const nextBehind = new Set<string>();
    const sendable: DataflowToRead[] = [];
    for (const ref of listed) {
      // Held or paused: its messages stay pending, untouched, and go in order once it may be sent to.
      const held = holds.heldUntil(keyOf(ref), Date.now()) !== undefined;
      const dataflow = held ? undefined : await lookUp(ref);
      if (held || (dataflow && !mayBeSent(known.get(keyOf(ref))))) nextBehind.add(keyOf(ref));
      else sendable.push({ ...ref, cursor: cursors.get(keyOf(ref)) ?? "" });
    }
    const perDataflow = Math.ceil(readLimit / Math.max(1, sendable.length));
    const queues = await readSendable(options.store, sendable, perDataflow, new Date());
    cursors.clear();
    for (const queue of queues) {
      if (queue.cursor) cursors.set(keyOf(queue), queue.cursor);
      if (!queue.complete) nextBehind.add(keyOf(queue));
    }
    behind = nextBehind;
    const pending = queues.flatMap((q) => q.messages).sort((a, b) => a.id - b.id);
    const quiet = reason === "time" && pending.every((m) => handedOver.has(m.id));
    readEveryMs = quiet ? Math.min(readEveryMs * 2, quietPollMs) : pollMs;
    // What the read returned is handled now; what was committed after it stays for the next round.
    const read = new Set(pending.map((m) => m.id));
    recentlyRead = [read, ...recentlyRead.slice(0, 1)];
    fresh = fresh.filter((m) => !read.has(m.id));
    const full = queues.some((q) => q.limited);
    return { pending, full };
  }

  /** One round: read, pick, send, record. After a round that failed, the next one reads. */
  async function round(): Promise<RoundResult> {
    try {
      return await sendPending();
    } catch (error) {
      mustRead = true;
      throw error;
    }
  }

  async function sendPending(): Promise<RoundResult> {
    const { pending, full } = await pendingMessages();
    const groups = new Map<string, OutboxMessage[]>();
    const outcome: Outcome = { delivered: [], failed: [], left: [], waitMs: pollMs };
    const seen = new Set<string>();
    for (const m of pending) {
      // Handed-over messages may hold two of one profile: the later waits for the earlier.
      const profile = `${keyOf(m)}\n${m.profileId}`;
      if (seen.has(profile)) {
        outcome.left.push(m);
        continue;
      }
      seen.add(profile);
      const list = groups.get(keyOf(m));
      if (list) list.push(m);
      else groups.set(keyOf(m), [m]);
    }
    await Promise.all(
      [...groups.values()].map((messages) => sendGroup(messages[0] as OutboxMessage, messages, outcome)),
    );
    const { delivered, failed, left } = outcome;
    // Waking when the rate limit or a dataflow's hold lets something through, if before pollMs.
    const holdEnd = holds.nextEnd(Date.now());
    const waitMs = Math.min(outcome.waitMs, holdEnd === undefined ? pollMs : holdEnd - Date.now());
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
    if (alone.size) {
      for (const id of delivered) alone.delete(id);
      for (const f of failed) if (!f.retryAt) alone.delete(f.id);
    }
    // What was not delivered stays in the outbox: its dataflow's next messages go through a read.
    const failedIds = new Set(failed.map((f) => f.id));
    for (const m of pending) if (failedIds.has(m.id)) behind.add(keyOf(m));
    for (const m of left) behind.add(keyOf(m));
    options.metrics.delivered.inc(delivered.length);
    const retried = failed.filter((f) => f.retryAt).length;
    options.metrics.retried.inc(retried);
    options.metrics.deadLettered.inc(failed.length - retried);
    for (const f of failed.filter((x) => !x.retryAt)) {
      options.logger?.warn({ outboxId: f.id, attempts: f.attempts, error: f.error }, "message dead-lettered");
    }
    // Nothing sendable found: wait (a message not due, a dataflow paused or held, the rate limit).
    const more = full || delivered.length > 0 || failed.length > 0 || fresh.length > 0;
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
      for (const key of [...sessions.keys()]) await closeSession(key);
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
