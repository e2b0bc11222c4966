import type { Logger } from "pino";
import type { Issue } from "../errors/index.ts";
import {
  type EventWrite,
  type IngestReport,
  knownEventTypes,
  type ProfileWrite,
  validateEvents,
  validateProfiles,
} from "../profiles/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Executor, Statement, Store } from "../store/index.ts";
import { commitRecords } from "./commit.ts";
import { createCommitQueue } from "./commit-queue.ts";
import type { StreamingMetrics } from "./metrics.ts";
import type { OutboxMessage } from "./outbox.ts";
import type { ReevaluationResult } from "./reevaluate.ts";
import { type PlanCache, PlanChanged, type StreamingPlan } from "./streaming-plan.ts";

export interface StreamingIngestOptions {
  store: Store;
  plans: PlanCache;
  metrics: StreamingMetrics;
  logger?: Logger;
  /** The clock; tests pass a controllable one. */
  now?: () => Date;
  /** How long a request waits for company before a free lane commits it (default 1 ms). */
  lingerMs?: number;
  /** Records per commit at most; a queue this full commits at once (default 5,000). */
  maxRecords?: number;
  /** Transactions at once, on profiles that never overlap (default 2 on PostgreSQL, 1 on DuckDB). */
  lanes?: number;
  /** How far back events are read to evaluate a profile (default 30 days, the streaming look-back). */
  lookbackMs?: number;
  /** Called after a commit that queued messages, with them (the dispatcher's hand-over). */
  onQueued?: (messages: OutboxMessage[]) => void;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** What a request's records came to, before the commit adds the profiles it touched. */
export type RecordsReport = Omit<IngestReport, "profileIds">;

/**
 * A statement the caller wants committed with a request's records, atomically (its audit entry),
 * given what they came to; undefined for none.
 */
export type CommitWith = (report: RecordsReport) => Statement | undefined;

type Job = { sandbox: string; schema: SchemaSnapshot; arrivedAt: Date } & (
  | ({
      kind: "profiles";
      received: number;
      writes: ProfileWrite[];
      issues: Issue[];
      commitWith?: CommitWith;
    } & Waiter<IngestReport>)
  | ({
      kind: "events";
      received: number;
      events: { write: EventWrite; row: number }[];
      issues: Issue[];
      commitWith?: CommitWith;
    } & Waiter<IngestReport>)
  | ({ kind: "reevaluate"; profileIds: string[] } & Waiter<ReevaluationResult>)
);
type RecordsJob = Exclude<Job, { kind: "reevaluate" }>;

/** A request's report, given the events of it rejected while writing (unknown identity). */
function recordsReport(job: RecordsJob, late: readonly Issue[]): RecordsReport {
  if (job.kind === "profiles") {
    const stored = job.writes.length;
    return { received: job.received, stored, rejected: job.received - stored, issues: job.issues };
  }
  const issues = [...job.issues, ...late].sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
  return {
    received: job.received,
    stored: job.events.length - late.length,
    rejected: new Set(issues.map((i) => i.row)).size,
    issues,
  };
}

const DAY = 86_400_000;

function recordsOf(job: Job): number {
  switch (job.kind) {
    case "profiles":
      return job.writes.length;
    case "events":
      return job.events.length;
    case "reevaluate":
      return job.profileIds.length;
  }
}

/**
 * The real-time ingestion path. Requests are validated at once, then queued; the queue commits in
 * small groups (commit-queue.ts: up to `lanes` transactions at once, never two on one profile),
 * each in one transaction that writes the profiles and events, re-evaluates the profiles they
 * touched against the streaming segments, records membership changes and writes the outbox. A
 * request's promise settles when its group has committed, so an acknowledged record is never lost.
 */
export function createStreamingIngest(options: StreamingIngestOptions) {
  const { store, plans, metrics } = options;
  const knownTypes = knownEventTypes(store);
  const clock = options.now ?? (() => new Date());
  const lookbackMs = options.lookbackMs ?? 30 * DAY;
  const primary = (job: Job) => job.schema.primaryIdentity.namespace;
  const queue = createCommitQueue<Job>({
    lanes: options.lanes ?? (store.engine === "postgres" ? 2 : 1),
    ...(options.lingerMs !== undefined ? { lingerMs: options.lingerMs } : {}),
    ...(options.maxRecords !== undefined ? { maxRecords: options.maxRecords } : {}),
    recordsOf,
    keysOf: (job) => {
      const key = (id: string) => `${job.sandbox}\n${id}`;
      switch (job.kind) {
        case "profiles":
          return job.writes.map((w) => key(w.id));
        case "events":
          // A secondary identity names a profile only its commit can look up.
          if (job.events.some((e) => e.write.identity.namespace !== primary(job))) return undefined;
          return job.events.map((e) => key(e.write.identity.value));
        case "reevaluate":
          return job.profileIds.map(key);
      }
    },
    groupOf: (job) => job.sandbox,
    commit: commitGroup,
  });
  let closed = false;

  function enqueue(job: Job) {
    if (closed) {
      job.reject(new Error("the streaming ingestion service is closed"));
      return;
    }
    queue.push(job);
  }

  /** Commits a group; if it fails, each job is tried alone so one bad request fails only itself. */
  async function commitGroup(jobs: Job[]) {
    try {
      settle(jobs, await commit(jobs));
    } catch (error) {
      if (jobs.length === 1) {
        (jobs[0] as Job).reject(error);
        return;
      }
      options.logger?.warn({ err: error }, "streaming commit failed; retrying its requests one by one");
      for (const job of jobs) {
        try {
          settle([job], await commit([job]));
        } catch (alone) {
          job.reject(alone);
        }
      }
    }
  }

  interface Committed {
    result: ReevaluationResult;
    /** Events rejected while writing (unknown identity), per job, with the job's own row numbers. */
    insertIssues: Map<Job, Issue[]>;
    profileIds: string[];
  }

  async function commit(jobs: Job[]): Promise<Committed> {
    const first = jobs[0] as Job;
    const { sandbox } = first;
    const schema = (jobs[jobs.length - 1] as Job).schema;
    const now = clock();
    const ingestedAt = new Date(Math.min(...jobs.map((j) => j.arrivedAt.getTime())));
    const owners: { job: Job; row: number }[] = [];
    const events: { write: EventWrite; row: number }[] = [];
    for (const job of jobs) {
      if (job.kind !== "events") continue;
      for (const e of job.events) {
        owners.push({ job, row: e.row });
        events.push({ write: e.write, row: events.length });
      }
    }
    const profiles = jobs.flatMap((j) => (j.kind === "profiles" ? j.writes : []));
    // Events rejected while writing, per job with the job's own row numbers.
    const byJob = (issues: readonly Issue[]) => {
      const late = new Map<Job, Issue[]>();
      for (const issue of issues) {
        const owner = owners[issue.row ?? -1];
        if (!owner) continue;
        const list = late.get(owner.job) ?? [];
        list.push({ ...issue, row: owner.row });
        late.set(owner.job, list);
      }
      return late;
    };
    const alsoWrite = (issues: readonly Issue[]) => {
      const late = byJob(issues);
      return jobs.flatMap((job) => {
        if (job.kind === "reevaluate" || !job.commitWith) return [];
        const statement = job.commitWith(recordsReport(job, late.get(job) ?? []));
        return statement ? [statement] : [];
      });
    };
    const work = (cached?: { plan: StreamingPlan; stamp: string }) => async (executor: Executor) => {
      const db = { ...executor, dialect: store.dialect };
      const committed = await commitRecords(db, {
        sandbox,
        schema,
        ...(cached
          ? { plan: cached.plan, planStamp: cached.stamp }
          : { plan: await plans.planFor(db, sandbox, schema) }),
        profiles,
        events,
        knownTypes,
        reevaluate: jobs.flatMap((j) => (j.kind === "reevaluate" ? j.profileIds : [])),
        now,
        ingestedAt,
        lookbackMs,
        alsoWrite,
      });
      return {
        result: committed.result,
        insertIssues: byJob(committed.issues),
        profileIds: committed.profileIds,
      };
    };
    // Without profile writes a commit writes once, atomically (commit.ts): on PostgreSQL no
    // transaction, so no BEGIN and COMMIT round trips. DuckDB's single writer keeps its transaction.
    const run = (cached?: { plan: StreamingPlan; stamp: string }) =>
      store.engine === "postgres" && !profiles.length ? work(cached)(store) : store.transaction(work(cached));
    // The cached plan, checked by the commit's own read (a plan streaming nothing reads nothing:
    // planFor checks it); if it changed, the commit is redone with the current one.
    const cached = plans.cached(sandbox, schema);
    if (!cached?.plan.segments.length) return run();
    try {
      return await run(cached);
    } catch (error) {
      if (error instanceof PlanChanged) return run();
      throw error;
    }
  }

  function settle(jobs: Job[], committed: Committed) {
    const { result } = committed;
    metrics.evaluations.inc(result.evaluations);
    for (const change of result.changes) metrics.membershipChanges.inc({ status: change.status });
    if (result.queued.length) metrics.messagesQueued.inc(result.queued.length);
    if (result.excluded) metrics.excluded.inc(result.excluded);
    if (result.queued.length) options.onQueued?.(result.queued);
    for (const job of jobs) {
      switch (job.kind) {
        case "profiles":
          metrics.profilesIngested.inc(job.writes.length);
          job.resolve({ ...recordsReport(job, []), profileIds: [...new Set(job.writes.map((w) => w.id))] });
          break;
        case "events": {
          const report = recordsReport(job, committed.insertIssues.get(job) ?? []);
          metrics.eventsIngested.inc(report.stored);
          job.resolve({ ...report, profileIds: committed.profileIds });
          break;
        }
        case "reevaluate":
          job.resolve(result);
          break;
      }
    }
  }

  return {
    /**
     * Validates and queues profile records; resolves once they are committed and evaluated, with
     * `commitWith`'s statement (the request's audit entry) committed in the same write.
     */
    ingestProfiles(
      sandbox: string,
      schema: SchemaSnapshot,
      records: readonly unknown[],
      firstRow = 0,
      commitWith?: CommitWith,
    ) {
      const arrivedAt = new Date();
      const { writes, issues } = validateProfiles(schema, records, firstRow);
      return new Promise<IngestReport>((resolve, reject) =>
        enqueue({
          kind: "profiles",
          sandbox,
          schema,
          arrivedAt,
          received: records.length,
          writes,
          issues,
          ...(commitWith ? { commitWith } : {}),
          resolve,
          reject,
        }),
      );
    },
    /** Validates and queues events; resolves as ingestProfiles does. */
    ingestEvents(
      sandbox: string,
      schema: SchemaSnapshot,
      records: readonly unknown[],
      firstRow = 0,
      commitWith?: CommitWith,
    ) {
      const arrivedAt = new Date();
      const { events, issues } = validateEvents(schema, records, firstRow);
      return new Promise<IngestReport>((resolve, reject) =>
        enqueue({
          kind: "events",
          sandbox,
          schema,
          arrivedAt,
          received: records.length,
          events,
          issues,
          ...(commitWith ? { commitWith } : {}),
          resolve,
          reject,
        }),
      );
    },
    /** Re-evaluates profiles at the clock's now (the sweep's time-based exits), through the same queue. */
    reevaluate(sandbox: string, schema: SchemaSnapshot, profileIds: readonly string[]) {
      return new Promise<ReevaluationResult>((resolve, reject) =>
        enqueue({
          kind: "reevaluate",
          sandbox,
          schema,
          arrivedAt: new Date(),
          profileIds: [...profileIds],
          resolve,
          reject,
        }),
      );
    },
    /** Commits what is queued, then refuses new work. */
    async close() {
      closed = true;
      await queue.drain();
    },
  };
}

export type StreamingIngest = ReturnType<typeof createStreamingIngest>;
