import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { migrateParts } from "../../src/api/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import { type AccountDeps, createCatalog, destinationDefinitions } from "../../src/destinations/index.ts";
import { profileMigrations } from "../../src/profiles/index.ts";
import { installDefaultSchema, loadSchema, type SchemaSnapshot } from "../../src/schema/index.ts";
import { createSegment } from "../../src/segments/index.ts";
import {
  createSandbox,
  DEFAULT_SANDBOX,
  migrate,
  openPostgresStore,
  type Store,
} from "../../src/store/index.ts";
import { createStreamingService, type StreamingService } from "../../src/streaming/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { freshPostgresDatabase } from "../support/stores.ts";
import { eventually, type Received, streamingDataflowTo } from "./harness.ts";

/** One Herald process on the shared database: its own store (pool) and streaming service. */
interface Process {
  store: Store;
  streaming: StreamingService;
}

describe("two processes on one PostgreSQL store", () => {
  let recorder: HttpRecorder;
  const opened: Process[] = [];
  beforeAll(async () => {
    recorder = await startHttpRecorder();
    // Slow answers: two senders would both read (and send) what the other has not deleted yet.
    recorder.respondWith({ status: 200, delayMs: 150 }, 10_000);
  });
  afterAll(async () => {
    await recorder.close();
  });
  afterEach(async () => {
    for (const p of opened.splice(0)) {
      await p.streaming.stop();
      await p.store.close();
    }
  });

  /** A database streaming a segment of buyers to `path`, and two processes started on it. */
  async function twoProcesses(path: string): Promise<{ schema: SchemaSnapshot; processes: Process[] }> {
    const url = await freshPostgresDatabase();
    const keys = localKeyProvider(randomBytes(32));
    const catalog = createCatalog(destinationDefinitions);
    const setup = await openPostgresStore(url);
    await migrate(setup, "postgres");
    await migrate(setup, "postgres", "profiles", profileMigrations);
    await createSandbox(setup, DEFAULT_SANDBOX);
    await installDefaultSchema(setup, DEFAULT_SANDBOX);
    await migrateParts(setup);
    await createSegment(setup, "prod", {
      id: "buyers",
      name: "Buyers",
      definition: "exists(commerce.purchases within last 7 days)",
    });
    await streamingDataflowTo({ store: setup, catalog, keys }, `${recorder.url}/${path}`, {
      name: "Stream",
      segmentIds: ["buyers"],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
    });
    const schema = await loadSchema(setup, DEFAULT_SANDBOX);
    await setup.close();
    const processes: Process[] = [];
    for (let i = 0; i < 2; i++) {
      const store = await openPostgresStore(url);
      const deps: AccountDeps = { store, catalog, keys };
      const streaming = createStreamingService(deps, {
        logger: pino({ level: "silent" }),
        lingerMs: 0,
        pollMs: 20,
        leaseRetryMs: 200,
      });
      const process = { store, streaming };
      opened.push(process);
      processes.push(process);
      streaming.start();
    }
    return { schema, processes };
  }

  const purchases = (from: number, count: number) =>
    Array.from({ length: count }, (_, k) => ({
      type: "commerce.purchases",
      timestamp: new Date().toISOString(),
      identity: { email: `p${from + k}@example.com` },
      properties: { priceTotal: 10 },
    }));

  /** How many times each profile arrived at `path`. */
  const arrivals = (path: string) => {
    const counts = new Map<string, number>();
    for (const r of recorder.requests.filter((x) => x.path === `/${path}`)) {
      for (const record of (r.body as { records: Received["payload"][] }).records) {
        counts.set(record.profileId, (counts.get(record.profileId) ?? 0) + 1);
      }
    }
    return counts;
  };

  /** Waits for `profiles` arrivals, lets a second sender's copies come too, then reads them all. */
  async function delivered(path: string, profiles: number) {
    await eventually(
      async () => arrivals(path).size,
      (n) => n >= profiles,
    );
    await new Promise((r) => setTimeout(r, 1_000));
    return arrivals(path);
  }

  const leaders = (processes: Process[]) => processes.filter((p) => p.streaming.lease.leading);

  /** Two processes each commit ten profiles, each sent once by the one that leads. */
  async function deliveredOnceByOneLeader(path: string) {
    const { schema, processes } = await twoProcesses(path);
    const [a, b] = processes as [Process, Process];
    await a.streaming.ingest.ingestEvents("prod", schema, purchases(0, 10));
    await b.streaming.ingest.ingestEvents("prod", schema, purchases(10, 10));
    expect([...(await delivered(path, 20)).values()]).toEqual(Array(20).fill(1));
    expect(leaders(processes)).toHaveLength(1);
    const first = leaders(processes)[0] as Process;
    const standby = processes.find((p) => p !== first) as Process;
    return { schema, processes, first, standby };
  }

  it("sends each message once, whichever process committed it, with one process leading", async () => {
    const { schema, processes } = await twoProcesses("once");
    const [a, b] = processes as [Process, Process];
    await a.streaming.ingest.ingestEvents("prod", schema, purchases(0, 10));
    await b.streaming.ingest.ingestEvents("prod", schema, purchases(10, 10));
    await a.streaming.ingest.ingestEvents("prod", schema, purchases(20, 10));

    const counts = await delivered("once", 30);
    expect([...counts.values()]).toEqual(Array(30).fill(1));
    expect(leaders(processes)).toHaveLength(1);
  });

  it("hands over to the standby when the leader stops, which sends what is committed after", async () => {
    const { schema, first, standby } = await deliveredOnceByOneLeader("stopped");
    await first.streaming.stop();
    await eventually(
      async () => standby.streaming.lease.leading,
      (leading) => leading,
    );
    await standby.streaming.ingest.ingestEvents("prod", schema, purchases(20, 10));
    const counts = await delivered("stopped", 30);
    expect([...counts.values()]).toEqual(Array(30).fill(1));
  });

  it("stops leading when its lease connection is killed; the standby takes over and sends what both commit after", async () => {
    const { schema, processes, first, standby } = await deliveredOnceByOneLeader("killed");
    // The session holding the advisory lock, as a failover or an idle-session kill would end it.
    const terminated = await standby.store.queryGlobal<{ done: boolean }>(
      `SELECT pg_terminate_backend(pid) AS done FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    expect(terminated.map((t) => t.done)).toEqual([true]);
    await eventually(
      async () => [first.streaming.lease.leading, standby.streaming.lease.leading],
      ([old, now]) => !old && now === true,
    );
    // The old leader keeps ingesting; the new one sends its commits from the outbox.
    await first.streaming.ingest.ingestEvents("prod", schema, purchases(20, 10));
    await standby.streaming.ingest.ingestEvents("prod", schema, purchases(30, 10));
    const counts = await delivered("killed", 40);
    expect([...counts.values()]).toEqual(Array(40).fill(1));
    expect(leaders(processes)).toHaveLength(1);
    expect(standby.streaming.lease.leading).toBe(true);
  });
});
