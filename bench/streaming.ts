/**
 * Streaming benchmark: events posted over HTTP to a running Herald API at a fixed rate into a store
 * of generated profiles with 20 streaming segments and one streaming dataflow, delivered to a real
 * destination server on loopback. Prints sustained throughput, ingest-to-delivery latency
 * (p50 / p99 / max, measured from the client's send to the destination's receipt) against the same
 * destination's own round trip measured in the same run, the CPU time Herald's process and
 * PostgreSQL used during the load, and checks that nothing was lost. The client and the destination
 * run in a worker thread (bench/support/streaming-load.ts), off Herald's event loop.
 *
 *   node bench/streaming.ts                  # 1 M profiles, 10,000 events/s for 60 s, throwaway PostgreSQL
 *   PROFILES=100000 RATE=2000 SECONDS=10 node bench/streaming.ts
 *   ENGINE=duckdb node bench/streaming.ts    # the embedded engine
 *   SHARED_BUFFERS=128MB node bench/streaming.ts   # PostgreSQL's default instead of 1GB
 *   PG_TCP=1 node bench/streaming.ts        # PostgreSQL over TCP loopback, not its Unix socket
 *   LINGER_MS=2 LANES=3 node bench/streaming.ts   # the group commit's settings (docs/streaming.md)
 *   VACUUM_ROWS=0 node bench/streaming.ts   # the dispatcher's vacuum of the outbox (0: autovacuum only)
 *   PG_STATS=1 node bench/streaming.ts      # also the statements PostgreSQL spent the load on
 *   PG_DURABLE=0 node bench/streaming.ts    # without flushing commits to disk (fsync off), as in tests
 *   WARMUP=0 node bench/streaming.ts        # measure from the first request (default: after 10 s of load)
 *   LATENCY_TRACE=/tmp/lat.json node bench/streaming.ts  # also write each message's send and arrival times
 *   LOG_LEVEL=info node bench/streaming.ts  # Herald's default log level (request logs, to /dev/null) instead of warn
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { pino } from "pino";
import { createDataflow } from "../src/activation/index.ts";
import { buildServer, migrateParts, wireParts } from "../src/api/index.ts";
import { loadConfig } from "../src/config/index.ts";
import { localKeyProvider } from "../src/crypto/index.ts";
import { httpDestination } from "../src/destinations/http/index.ts";
import { createAccount, createCatalog, type OutboundRecord } from "../src/destinations/index.ts";
import { installDefaultSchema } from "../src/schema/index.ts";
import { createSegment } from "../src/segments/index.ts";
import {
  createSandbox,
  migrate,
  openDuckDBStore,
  openPostgresStore,
  type Store,
} from "../src/store/index.ts";
import { createStreamingService } from "../src/streaming/index.ts";
import { startPostgresCluster } from "../test/support/postgres-cluster.ts";
import type { LoadMessage, LoadReply } from "./support/streaming-load.ts";

const PROFILES = Number(process.env.PROFILES ?? 1_000_000);
const RATE = Number(process.env.RATE ?? 10_000);
const SECONDS = Number(process.env.SECONDS ?? 60);
/** PostgreSQL by default: the real-time path is point reads and small writes (see docs/streaming.md). */
const ENGINE = process.env.ENGINE === "duckdb" ? "duckdb" : "postgres";
/** Events per request; requests leave every 1000 × BATCH / RATE ms. */
const BATCH = Number(process.env.BATCH ?? 50);
const MAX_IN_FLIGHT = Number(process.env.MAX_IN_FLIGHT ?? 64);
/** PostgreSQL's buffer cache: sized for the store (its 128MB default holds a fraction of 1 M profiles). */
const SHARED_BUFFERS = process.env.SHARED_BUFFERS ?? "1GB";
/** Herald reaches the server over TCP loopback instead of its Unix-domain socket (the default here). */
const PG_TCP = process.env.PG_TCP === "1";
/**
 * PostgreSQL as deployed: every commit flushed to disk (fsync, synchronous_commit and full page
 * writes on, which the test clusters turn off). PG_DURABLE=0 for the test clusters' settings.
 */
const PG_DURABLE = process.env.PG_DURABLE !== "0";
/** Print PostgreSQL's own statement statistics (pg_stat_statements) for the load. */
const PG_STATS = ENGINE === "postgres" && process.env.PG_STATS === "1";
/** More server settings for a diagnostic run, e.g. `PG_SETTINGS=autovacuum=off,max_wal_size=8GB`. */
const PG_SETTINGS = Object.fromEntries(
  (process.env.PG_SETTINGS ?? "")
    .split(",")
    .filter(Boolean)
    .map((s) => s.split("=", 2) as [string, string]),
);
/**
 * Seconds of load at the same rate before the measured SECONDS, on other profiles, not counted:
 * the first seconds after a start (the connection pool filling, V8 compiling the hot paths) are not
 * the steady state a running deployment sees. WARMUP=0 measures from the first request.
 */
const WARMUP = Number(process.env.WARMUP ?? 10);
/** The span (seconds of sending) the latency is also printed per. */
const SPAN_SECONDS = Number(process.env.SPAN_SECONDS ?? 10);
const SANDBOX = "prod";
const TIERS = ["bronze", "silver", "gold", "platinum"];
const COUNTRIES = ["FR", "DE", "US", "GB", "ES"];

function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
const ms = (n: number) => `${n.toFixed(1)} ms`;

/** Ingest-to-delivery per span of the load (by send time): where in the run the slow ones were. */
function latencyBySpan(
  arrivals: readonly { profileId: string; arrivedAt: number }[],
  sentAt: ReadonlyMap<string, number>,
  spanMs: number,
): string {
  const sent = arrivals.filter((a) => sentAt.has(a.profileId));
  const start = sent.reduce(
    (min, a) => Math.min(min, sentAt.get(a.profileId) as number),
    Number.POSITIVE_INFINITY,
  );
  const spans: number[][] = [];
  for (const a of sent) {
    const at = sentAt.get(a.profileId) as number;
    const span = Math.floor((at - start) / spanMs);
    const list = spans[span] ?? [];
    list.push(a.arrivedAt - at);
    spans[span] = list;
  }
  return spans
    .map((list) => list.sort((x, y) => x - y))
    .map(
      (list) =>
        `${quantile(list, 0.5).toFixed(0)}/${quantile(list, 0.99).toFixed(0)}/${list[list.length - 1]}`,
    )
    .join(", ");
}

async function openBenchStore(): Promise<{ store: Store; cleanup: () => Promise<void> }> {
  if (ENGINE === "postgres") {
    const cluster = await startPostgresCluster({
      shared_buffers: SHARED_BUFFERS,
      ...(PG_DURABLE ? { fsync: "on", synchronous_commit: "on", full_page_writes: "on" } : {}),
      ...(PG_STATS
        ? {
            shared_preload_libraries: "pg_stat_statements",
            "pg_stat_statements.track_planning": "on",
            track_wal_io_timing: "on",
          }
        : {}),
      ...PG_SETTINGS,
    });
    const store = await openPostgresStore(PG_TCP ? cluster.url() : cluster.socketUrl());
    return { store, cleanup: () => cluster.stop() };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-bench-streaming-"));
  const store = await openDuckDBStore({ file: path.join(dir, "bench.duckdb"), threads: os.cpus().length });
  return { store, cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function generateProfiles(store: Store) {
  const rows =
    ENGINE === "duckdb"
      ? `SELECT 'p' || i AS id, ['bronze','silver','gold','platinum'][1 + CAST(i % 4 AS INTEGER)] AS tier,
           ['FR','DE','US','GB','ES'][1 + CAST(i % 5 AS INTEGER)] AS country FROM range(${PROFILES}) AS t(i)`
      : `SELECT 'p' || i AS id, (ARRAY['bronze','silver','gold','platinum'])[1 + i % 4] AS tier,
           (ARRAY['FR','DE','US','GB','ES'])[1 + i % 5] AS country FROM generate_series(0, ${PROFILES - 1}) AS t(i)`;
  await store.query(
    SANDBOX,
    `INSERT INTO {profiles} (_id, _created_at, _updated_at, "personalEmail.address", "loyalty.tier", "homeAddress.countryCode")
     SELECT id, now(), now(), id, tier, country FROM (${rows}) AS g`,
  );
  // As after any bulk load: vacuumed and analysed now, not by autovacuum in the middle of the load,
  // and its pages written out now, not by a checkpoint in the middle of it.
  if (ENGINE === "postgres") {
    await store.query(SANDBOX, "VACUUM ANALYZE {profiles}");
    await store.queryGlobal("CHECKPOINT");
  }
}

/** The client and the destination, in their worker thread. */
function startOutsideWorld() {
  const worker = new Worker(new URL("./support/streaming-load.ts", import.meta.url));
  const replies: LoadReply[] = [];
  let waiting: (() => void) | undefined;
  worker.on("message", (reply: LoadReply) => {
    replies.push(reply);
    waiting?.();
  });
  const next = async <K extends LoadReply["kind"]>(kind: K): Promise<Extract<LoadReply, { kind: K }>> => {
    for (;;) {
      const index = replies.findIndex((r) => r.kind === kind);
      if (index >= 0) return replies.splice(index, 1)[0] as Extract<LoadReply, { kind: K }>;
      await new Promise<void>((resolve) => (waiting = resolve));
    }
  };
  const send = (message: LoadMessage) => worker.postMessage(message);
  return { next, send, exited: new Promise((resolve) => worker.once("exit", resolve)) };
}

/** CPU seconds used so far by this process's main thread (Herald's event loop), apart from its other threads. */
function mainThreadCpuSeconds(): number {
  if (!fs.existsSync("/proc/self/stat")) return Number.NaN;
  const fields =
    fs.readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds used so far by the PostgreSQL server behind `store` (postmaster, reaped and live backends). */
async function postgresCpuSeconds(): Promise<number | undefined> {
  if (ENGINE !== "postgres" || !fs.existsSync("/proc/self/stat")) return undefined;
  const [row] = await store.queryGlobal<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  const fields = (pid: number) =>
    fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const master = Number(fields(Number(row?.pid))[1]);
  let ticks = 0;
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const f = fields(Number(pid));
      if (Number(pid) === master) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      else if (Number(f[1]) === master) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // A backend that ended while being read is counted in the postmaster's reaped time.
    }
  }
  return ticks / 100;
}

/**
 * The kernel's writeback of dirty pages, which decides the worst latencies of a durable run: PostgreSQL
 * extends its tables with pages written but not flushed, and with the kernel's defaults they pile up
 * (~4 MB/s here) until 30 s old, then go to disk in one burst that holds every commit's flush for
 * 300-400 ms (docs/benchmarks.md). Printed so a run says which host it measured.
 */
function hostWriteback(): string {
  const read = (name: string) => {
    try {
      return Number(fs.readFileSync(`/proc/sys/vm/${name}`, "utf8"));
    } catch {
      return undefined;
    }
  };
  const bytes = read("dirty_background_bytes");
  const ratio = read("dirty_background_ratio");
  const expire = read("dirty_expire_centisecs");
  if (bytes === undefined && ratio === undefined) return "unknown (no /proc/sys/vm)";
  const threshold = bytes
    ? `dirty_background_bytes ${(bytes / 2 ** 20).toFixed(0)} MiB`
    : `dirty_background_ratio ${ratio}%`;
  return `${threshold}, dirty pages written after ${(Number(expire) / 100).toFixed(0)} s at the latest`;
}

/** The size on disk of each table, index and TOAST table (bytes), by schema-qualified name. */
async function relationSizes(): Promise<Map<string, number>> {
  const rows = await store.queryGlobal<{ t: string; bytes: string }>(
    `SELECT n.nspname || '.' || c.relname AS t, pg_relation_size(c.oid) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'i', 't') AND n.nspname NOT IN ('pg_catalog', 'information_schema')`,
  );
  return new Map(rows.map((r) => [r.t, Number(r.bytes)]));
}

/**
 * The statements PostgreSQL spent the most time on since the reset, with their calls and rows; and
 * how much each table and index grew on disk (new pages are written to the files as they extend, and
 * wait in the kernel's page cache for its writeback: docs/streaming.md).
 */
async function printStatementStats(sizesBefore: Map<string, number>) {
  const rows = await store.queryGlobal<{ total: number; calls: number; rows: number; query: string }>(
    `SELECT total_exec_time + total_plan_time AS total, calls, rows, query FROM pg_stat_statements
      ORDER BY total_exec_time + total_plan_time DESC LIMIT 12`,
  );
  console.log("PostgreSQL statements during the load (total ms, calls, rows, statement):");
  for (const r of rows) {
    const text = r.query.replace(/\s+/g, " ").slice(0, 150);
    console.log(
      `  ${Number(r.total).toFixed(0).padStart(8)} ${String(r.calls).padStart(7)} ${String(r.rows).padStart(9)}  ${text}`,
    );
  }
  const tables = await store.queryGlobal<Record<string, unknown>>(
    `SELECT schemaname || '.' || relname AS t, n_tup_ins, n_tup_del, n_dead_tup, autovacuum_count, autoanalyze_count
       FROM pg_stat_user_tables WHERE n_tup_ins > 0 ORDER BY n_tup_ins DESC LIMIT 6`,
  );
  // What flushing the commits cost: WAL volume (full-page images after a checkpoint), its writes
  // and flushes to disk, and the time they took (track_wal_io_timing).
  const [wal] = await store.queryGlobal<Record<string, number>>(
    `SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync, wal_write_time, wal_sync_time,
       wal_buffers_full FROM pg_stat_wal`,
  );
  if (wal) {
    const mib = (Number(wal.wal_bytes) / 2 ** 20).toFixed(0);
    const perSync = Number(wal.wal_sync)
      ? (Number(wal.wal_sync_time) / Number(wal.wal_sync)).toFixed(2)
      : "0";
    console.log(
      `WAL: ${wal.wal_records} records, ${wal.wal_fpi} full-page images, ${mib} MiB; ${wal.wal_write} writes (${Number(wal.wal_write_time).toFixed(0)} ms), ${wal.wal_sync} flushes (${Number(wal.wal_sync_time).toFixed(0)} ms, ${perSync} ms each); buffers full ${wal.wal_buffers_full} times`,
    );
  }
  console.log("tables (inserted, deleted, dead, autovacuums, autoanalyzes):");
  for (const t of tables) {
    console.log(
      `  ${t.t}: ${t.n_tup_ins}, ${t.n_tup_del}, ${t.n_dead_tup}, ${t.autovacuum_count}, ${t.autoanalyze_count}`,
    );
  }
  const grown = [...(await relationSizes())]
    .map(([t, bytes]) => [t, bytes - (sizesBefore.get(t) ?? 0)] as const)
    .filter(([, bytes]) => bytes > 0)
    .sort((a, b) => b[1] - a[1]);
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `grew on disk during the load: ${mib(grown.reduce((sum, [, b]) => sum + b, 0))}: ${grown
      .slice(0, 10)
      .map(([t, b]) => `${t} ${mib(b)}`)
      .join(", ")}`,
  );
}

const { store, cleanup } = await openBenchStore();
const outside = startOutsideWorld();
const destination = await outside.next("ready");
try {
  await store.transaction((tx) => migrate(tx, store.engine));
  await migrateParts(store);
  await createSandbox(store, SANDBOX);
  await installDefaultSchema(store, SANDBOX);
  const generated = performance.now();
  await generateProfiles(store);
  console.log(
    `streaming bench: ${ENGINE}${ENGINE === "postgres" ? (PG_DURABLE ? " (commits flushed to disk)" : " (fsync off)") : ""}, ${PROFILES.toLocaleString()} profiles generated in ${((performance.now() - generated) / 1000).toFixed(1)} s; ${RATE.toLocaleString()} events/s for ${SECONDS} s in requests of ${BATCH}`,
  );
  if (ENGINE === "postgres" && PG_DURABLE) console.log(`host writeback: ${hostWriteback()}`);

  // 20 streaming segments: each (tier, country) pair with a recent purchase. A profile belongs to at
  // most one, so its first purchase in the run realizes it there.
  const segmentIds: string[] = [];
  for (let i = 0; i < 20; i++) {
    const id = `buyers-${TIERS[i % 4]}-${COUNTRIES[i % 5]}`.toLowerCase();
    segmentIds.push(id);
    await createSegment(store, SANDBOX, {
      id,
      name: id,
      definition: `loyalty.tier = "${TIERS[i % 4]}" and homeAddress.countryCode = "${COUNTRIES[i % 5]}" and exists(commerce.purchases within last 1 days)`,
    });
  }

  // Destination: an HTTP endpoint on loopback that records every request and when it arrived.
  const keys = localKeyProvider(randomBytes(32));
  const catalog = createCatalog([httpDestination as never]);
  const accountDeps = { store, catalog, keys };
  const connection = { url: `${destination.url}/audiences` };
  const details = { batchSize: 500 };
  const account = await createAccount(accountDeps, SANDBOX, {
    destinationId: httpDestination.id,
    name: "bench",
    connection,
    details,
  });
  await createDataflow(accountDeps, SANDBOX, {
    name: "bench",
    accountId: account.id,
    details,
    status: "enabled",
    segments: segmentIds.map((segmentId) => ({ segmentId, schedule: { frequency: "streaming" } })),
    mapping: {
      columns: [
        { source: { kind: "identity", namespace: "email" } },
        { source: { kind: "attribute", path: "loyalty.tier" } },
      ],
    },
  });

  // Baseline: the destination's own round trip for a batch of 20 messages, through the same connector.
  const connector = httpDestination.connector;
  if (connector.kind !== "stream") throw new Error("not a stream connector");
  const session = await connector.open(
    httpDestination.connectionSchema.parse({ url: `${destination.url}/baseline` }),
    httpDestination.detailsSchema.parse(details),
  );
  const baseline: number[] = [];
  for (let i = 0; i < 500; i++) {
    const records: OutboundRecord[] = Array.from({ length: 20 }, (_, k) => ({
      key: `b${i}-${k}`,
      json: JSON.stringify({
        profileId: `b${i}-${k}`,
        segmentMembership: { herald: { x: { status: "realized" } } },
      }),
    }));
    const t = performance.now();
    await session.sendBatch(records);
    baseline.push(performance.now() - t);
  }
  await session.close();
  baseline.sort((a, b) => a - b);
  outside.send({ kind: "reset" });

  // Herald: the API on loopback, wired like `herald start`, with the streaming service running.
  const logger = process.env.LOG_LEVEL
    ? pino({ level: process.env.LOG_LEVEL }, pino.destination({ dest: "/dev/null", sync: true }))
    : pino({ level: "warn" });
  const parts = wireParts({ config: loadConfig({ port: 0 }, {}), store, logger, keys });
  const streaming = createStreamingService(accountDeps, {
    logger,
    ...(process.env.LINGER_MS ? { lingerMs: Number(process.env.LINGER_MS) } : {}),
    ...(process.env.LANES ? { commitLanes: Number(process.env.LANES) } : {}),
    ...(process.env.VACUUM_ROWS ? { vacuumEveryRows: Number(process.env.VACUUM_ROWS) } : {}),
  });
  const app = await buildServer({ ...parts, catalog, streaming } as Parameters<typeof buildServer>[0]);
  const address = await app.listen({ host: "127.0.0.1", port: 0 });
  streaming.start();

  // Until the outbox is empty and the destination holds every change.
  const drainOutbox = async () => {
    const drainStart = performance.now();
    for (;;) {
      const [row] = await store.queryGlobal<{ n: number }>("SELECT count(*) AS n FROM streaming_outbox");
      if (Number(row?.n ?? 0) === 0 || performance.now() - drainStart > 120_000) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const load = { url: address, profiles: PROFILES, rate: RATE, batch: BATCH, maxInFlight: MAX_IN_FLIGHT };
  // Warm-up: the events after the measured ones in the client's sequence, so on other profiles.
  let changesBefore = 0;
  if (WARMUP > 0) {
    outside.send({ kind: "load", ...load, seconds: WARMUP, firstEvent: RATE * SECONDS });
    await outside.next("loaded");
    await drainOutbox();
    const warm = await streaming.metricsJson();
    changesBefore = warm.membershipChanges.realized + warm.membershipChanges.exited;
    outside.send({ kind: "reset" });
    console.log(`warm-up: ${WARMUP} s at the same rate on other profiles, not counted below`);
  }

  // The load, from the worker; this process's CPU (Herald, plus the client and the destination in
  // their worker), how busy Herald's event loop was, and PostgreSQL's CPU over the same span.
  if (PG_STATS) {
    await store.queryGlobal("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    await store.queryGlobal("SELECT pg_stat_statements_reset()");
    await store.queryGlobal("SELECT pg_stat_reset_shared('wal')");
  }
  const sizesBefore = PG_STATS ? await relationSizes() : new Map<string, number>();
  const cpuBefore = process.cpuUsage();
  const mainBefore = mainThreadCpuSeconds();
  const pgBefore = await postgresCpuSeconds();
  const loopBefore = performance.eventLoopUtilization();
  outside.send({ kind: "load", ...load, seconds: SECONDS, firstEvent: 0 });
  const loaded = await outside.next("loaded");
  const loop = performance.eventLoopUtilization(loopBefore);
  const cpu = process.cpuUsage(cpuBefore);
  const mainCpu = mainThreadCpuSeconds() - mainBefore;
  const pgAfter = await postgresCpuSeconds();
  if (PG_STATS) await printStatementStats(sizesBefore);
  const { acknowledged, failedRequests, requestLatency } = loaded;
  const ingestSeconds = loaded.seconds;
  const sentAt = new Map(loaded.sentAt);

  await drainOutbox();
  const metrics = await streaming.metricsJson();
  outside.send({ kind: "collect" });
  const { arrivals: stored, requests: destinationRequests } = await outside.next("collected");
  await app.close();
  await streaming.stop();

  // Latency per delivered message: destination arrival − the client's send of that profile's purchase.
  const latencies = stored
    .filter((a) => sentAt.has(a.profileId))
    .map((a) => a.arrivedAt - (sentAt.get(a.profileId) as number))
    .sort((a, b) => a - b);
  // For finding stalls in time (e.g. beside `node --trace-gc`): times are epoch ms, timeOrigin the
  // process's start.
  if (process.env.LATENCY_TRACE)
    fs.writeFileSync(
      process.env.LATENCY_TRACE,
      JSON.stringify({
        timeOrigin: performance.timeOrigin,
        pairs: stored
          .filter((a) => sentAt.has(a.profileId))
          .map((a) => [sentAt.get(a.profileId), a.arrivedAt]),
      }),
    );
  const internal = metrics.latency;
  requestLatency.sort((a, b) => a - b);
  const changes = metrics.membershipChanges.realized + metrics.membershipChanges.exited - changesBefore;
  console.log(
    `throughput: ${Math.round(acknowledged / ingestSeconds).toLocaleString()} events/s acknowledged (${acknowledged.toLocaleString()} in ${ingestSeconds.toFixed(1)} s; ${failedRequests} failed requests)`,
  );
  const pgCpu =
    pgBefore !== undefined && pgAfter !== undefined
      ? `, PostgreSQL ${(pgAfter - pgBefore).toFixed(1)} s`
      : "";
  console.log(
    `CPU during the load: this process ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (Herald's main thread ${mainCpu.toFixed(1)} s, its event loop ${Math.round(loop.utilization * 100)}% busy; the client and the destination run in a worker)${pgCpu}, over ${ingestSeconds.toFixed(1)} s`,
  );
  // Per event acknowledged: steadier between runs than the latency on a shared machine, so the
  // figure to compare trees by when the work per event is what changed.
  const perEvent = (seconds: number) => `${((seconds * 1e6) / Math.max(1, acknowledged)).toFixed(1)} µs`;
  console.log(
    `CPU per event: Herald's main thread ${perEvent(mainCpu)}${pgAfter !== undefined && pgBefore !== undefined ? `, PostgreSQL ${perEvent(pgAfter - pgBefore)}` : ""}`,
  );
  console.log(
    `ingest request round trip: p50 ${ms(quantile(requestLatency, 0.5))}, p99 ${ms(quantile(requestLatency, 0.99))}, max ${ms(requestLatency[requestLatency.length - 1] ?? Number.NaN)}`,
  );
  console.log(
    `membership changes: ${changes.toLocaleString()}; stored at the destination: ${stored.length.toLocaleString()} in ${destinationRequests.toLocaleString()} requests; dead letters: ${metrics.deadLettered}; retried: ${metrics.retried}${WARMUP > 0 ? " (these two since the start)" : ""}`,
  );
  if (latencies.length) {
    console.log(
      `ingest-to-delivery (client send → destination arrival): p50 ${ms(quantile(latencies, 0.5))}, p99 ${ms(quantile(latencies, 0.99))}, max ${ms(latencies[latencies.length - 1] as number)}`,
    );
    console.log(
      `  by ${SPAN_SECONDS} s of sending from ${new Date([...sentAt.values()].reduce((a, b) => Math.min(a, b))).toISOString()} (p50 / p99 / max): ${latencyBySpan(stored, sentAt, SPAN_SECONDS * 1000)}`,
    );
  }
  const buckets = internal.buckets;
  const internalQuantile = (q: number) => {
    const target = q * internal.count;
    const hit = buckets.find((b) => b.count >= target);
    return hit ? (hit.le === "+Inf" ? Number.POSITIVE_INFINITY : hit.le * 1000) : Number.NaN;
  };
  console.log(
    `ingest-to-acknowledgement (Herald's histogram, bucket upper bounds${WARMUP > 0 ? ", the warm-up included" : ""}): p50 ≤ ${internalQuantile(0.5)} ms, p99 ≤ ${internalQuantile(0.99)} ms, mean ${ms((internal.sumSeconds / Math.max(1, internal.count)) * 1000)}`,
  );
  const baselineP50 = quantile(baseline, 0.5);
  console.log(
    `baseline (the HTTP endpoint's round trip for a 20-message batch, same connector): p50 ${ms(baselineP50)}, p99 ${ms(quantile(baseline, 0.99))}`,
  );
  if (latencies.length) {
    console.log(`ratio (Herald p50 / baseline p50): ${(quantile(latencies, 0.5) / baselineP50).toFixed(1)}`);
  }
  const lost = changes - stored.length;
  console.log(lost <= 0 ? "nothing lost" : `LOST: ${lost} changes not at the destination`);
  if (lost > 0) process.exitCode = 1;
  // Issue 6's targets, with what they were measured on (the host's writeback shows in the tail).
  const issueSetUp = PROFILES === 1_000_000 && RATE === 10_000 && SECONDS >= 60 && ENGINE === "postgres";
  const verdict = (ok: boolean) => (ok ? "met" : "missed");
  const p50 = quantile(latencies, 0.5);
  const p99 = quantile(latencies, 0.99);
  console.log(
    `targets (issue 6${issueSetUp ? "" : "'s, on another set-up than its 1,000,000 profiles at 10,000 events/s for 60 s on PostgreSQL"}): ` +
      `${Math.round(acknowledged / ingestSeconds).toLocaleString()} events/s sustained ${verdict(acknowledged / ingestSeconds >= RATE * 0.99 && failedRequests === 0)}, ` +
      `p50 ${p50} ms < 20 ${verdict(p50 < 20)}, p99 ${p99} ms < 100 ${verdict(p99 < 100)}, nothing lost ${verdict(lost <= 0)}` +
      (ENGINE === "postgres" && PG_DURABLE ? `; host writeback: ${hostWriteback()}` : ""),
  );
} finally {
  outside.send({ kind: "close" });
  await outside.exited;
  await store.close();
  await cleanup();
}
