import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Store } from "../store/index.ts";
import { type OutboxBacklog, outboxBacklog } from "./outbox-backlog.ts";

/** Latency buckets in seconds: the targets are tens of milliseconds, the tail may be seconds. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The streaming path's counters and its ingest-to-delivery latency histogram, in their own registry
 * (one per Herald process), exposed as JSON through the API and in Prometheus' text format at /metrics.
 * Given the store, also the outbox's backlog per dataflow, read at each scrape: messages pending and
 * dead, and the age of the oldest pending one (how far behind a paused or failing destination is).
 */
export function createStreamingMetrics(store?: Pick<Store, "queryGlobal">) {
  const registry = new Registry();
  const backlog = store ? backlogReader(store) : undefined;
  if (backlog) registerBacklogGauges(registry, backlog);
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const metrics = {
    registry,
    profilesIngested: counter("herald_streaming_profiles_ingested_total", "Profile records stored"),
    eventsIngested: counter("herald_streaming_events_ingested_total", "Events stored"),
    evaluations: counter(
      "herald_streaming_evaluations_total",
      "Segment evaluations of one profile (profiles x streaming segments)",
    ),
    membershipChanges: counter(
      "herald_streaming_membership_changes_total",
      "Membership changes recorded by the streaming path",
      ["status"],
    ),
    messagesQueued: counter("herald_streaming_messages_queued_total", "Messages written to the outbox"),
    excluded: counter(
      "herald_streaming_messages_excluded_total",
      "Messages not queued because a mandatory mapped value was missing",
    ),
    delivered: counter("herald_streaming_delivered_total", "Messages acknowledged by their destination"),
    retried: counter("herald_streaming_retried_total", "Failed sends scheduled for another attempt"),
    deadLettered: counter("herald_streaming_dead_lettered_total", "Messages moved to the dead letters"),
    latency: new Histogram({
      name: "herald_streaming_ingest_to_delivery_seconds",
      help: "From the arrival of the records behind a change to the destination's acknowledgement",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    /** The outbox per dataflow (when given the store). */
    backlog,
  };
  return metrics;
}

export type StreamingMetrics = ReturnType<typeof createStreamingMetrics>;

/** The outbox's backlog, read once for the callers that ask at the same moment (a scrape's gauges). */
function backlogReader(store: Pick<Store, "queryGlobal">): () => Promise<OutboxBacklog[]> {
  let read: Promise<OutboxBacklog[]> | undefined;
  return () => {
    read ??= outboxBacklog(store).finally(() => {
      setImmediate(() => {
        read = undefined;
      });
    });
    return read;
  };
}

function registerBacklogGauges(registry: Registry, backlog: () => Promise<OutboxBacklog[]>) {
  const labelNames = ["sandbox", "dataflow", "state"];
  new Gauge({
    name: "herald_streaming_outbox_messages",
    help: "Messages in the outbox per dataflow: pending (not yet delivered) and dead (dead letters)",
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const b of await backlog()) {
        const labels = { sandbox: b.sandbox, dataflow: b.dataflowId };
        this.set({ ...labels, state: "pending" }, b.pending);
        this.set({ ...labels, state: "dead" }, b.dead);
      }
    },
  });
  new Gauge({
    name: "herald_streaming_outbox_oldest_pending_seconds",
    help: "Age of the oldest message a dataflow has not delivered yet (0 when none waits)",
    labelNames: ["sandbox", "dataflow"],
    registers: [registry],
    async collect() {
      this.reset();
      const now = Date.now();
      for (const b of await backlog()) {
        const age = b.oldestPendingAt ? Math.max(0, (now - b.oldestPendingAt.getTime()) / 1000) : 0;
        this.set({ sandbox: b.sandbox, dataflow: b.dataflowId }, age);
      }
    },
  });
}

export interface StreamingMetricsView {
  profilesIngested: number;
  eventsIngested: number;
  evaluations: number;
  membershipChanges: { realized: number; exited: number };
  messagesQueued: number;
  excluded: number;
  delivered: number;
  retried: number;
  deadLettered: number;
  latency: { count: number; sumSeconds: number; buckets: { le: number | "+Inf"; count: number }[] };
  /** Per dataflow with messages in the outbox: pending, dead letters, the oldest pending one's commit time. */
  outbox: OutboxBacklog[];
}

async function total(counter: Counter, labels?: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => !labels || Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

/** The figures as JSON (the API's `/v1/streaming/metrics`). */
export async function metricsView(metrics: StreamingMetrics): Promise<StreamingMetricsView> {
  const histogram = await metrics.latency.get();
  const buckets = histogram.values
    .filter((v) => v.metricName === "herald_streaming_ingest_to_delivery_seconds_bucket")
    .map((v) => ({ le: v.labels.le === "+Inf" ? ("+Inf" as const) : Number(v.labels.le), count: v.value }));
  const named = (suffix: string) =>
    histogram.values.find((v) => v.metricName === `herald_streaming_ingest_to_delivery_seconds_${suffix}`)
      ?.value ?? 0;
  return {
    profilesIngested: await total(metrics.profilesIngested),
    eventsIngested: await total(metrics.eventsIngested),
    evaluations: await total(metrics.evaluations),
    membershipChanges: {
      realized: await total(metrics.membershipChanges, { status: "realized" }),
      exited: await total(metrics.membershipChanges, { status: "exited" }),
    },
    messagesQueued: await total(metrics.messagesQueued),
    excluded: await total(metrics.excluded),
    delivered: await total(metrics.delivered),
    retried: await total(metrics.retried),
    deadLettered: await total(metrics.deadLettered),
    latency: { count: named("count"), sumSeconds: named("sum"), buckets },
    outbox: (await metrics.backlog?.()) ?? [],
  };
}
