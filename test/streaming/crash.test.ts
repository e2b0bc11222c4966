import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { destinationDefinitions } from "../../src/destinations/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { type KinesisTestServer, startKinesis } from "../servers/kinesalite.ts";
import { freePort } from "../support/postgres-cluster.ts";
import { engines, freshPostgresDatabase } from "../support/stores.ts";
import { GOLD_BUYERS, type Received, statusesOf } from "./harness.ts";

const PROFILES = 120;
const PER_REQUEST = 10;

/** `herald start` as a child process, the way an operator runs it; on PostgreSQL with a URL. */
function startHerald(dataDir: string, port: number, databaseUrl?: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ["src/cli/main.ts", "start", "--data-dir", dataDir, "--port", String(port), "--log-level", "warn"],
    {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, HERALD_DATABASE_URL: databaseUrl ?? "" },
    },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  Object.defineProperty(child, "stderrTail", { get: () => stderr });
  return child;
}

async function waitUntilUp(base: string, child: ChildProcess) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      const tail = (child as ChildProcess & { stderrTail?: string }).stderrTail ?? "";
      throw new Error(`herald exited with ${child.exitCode}: ${tail}`);
    }
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("herald did not start");
}

async function post(base: string, url: string, body: unknown, ndjson = false) {
  const response = await fetch(`${base}${url}`, {
    // A request that hangs fails the test by name instead of by its timeout.
    signal: AbortSignal.timeout(20_000),
    method: "POST",
    headers: { "content-type": ndjson ? "application/x-ndjson" : "application/json" },
    body: ndjson ? (body as unknown[]).map((r) => JSON.stringify(r)).join("\n") : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
  return response.json();
}

const email = (i: number) => `p${String(i).padStart(4, "0")}@example.com`;
const purchases = (from: number) =>
  Array.from({ length: PER_REQUEST }, (_, k) => ({
    type: "commerce.purchases",
    timestamp: new Date().toISOString(),
    identity: { email: email(from + k) },
    properties: { priceTotal: 10 },
  }));

/** A destination server in this process, reachable from the child; whichever connector `herald start` serves. */
interface CrashDestination {
  id: string;
  connection: Record<string, unknown>;
  details: Record<string, unknown>;
  read(): Promise<Received[]>;
  refuse(): Promise<void>;
  accept(): Promise<void>;
  close(): Promise<void>;
}

const candidates: Record<string, () => Promise<CrashDestination>> = {
  "http-api": async () => {
    const recorder: HttpRecorder = await startHttpRecorder();
    return {
      id: "http-api",
      connection: { url: `${recorder.url}/audiences` },
      details: { batchSize: 100 },
      read: async () =>
        recorder.requests.flatMap((r) =>
          ((r.body as { records?: Received["payload"][] })?.records ?? []).map((payload) => ({
            key: payload.profileId,
            payload,
          })),
        ),
      refuse: () => recorder.stop(),
      accept: () => recorder.start(),
      close: () => recorder.close(),
    };
  },
  "amazon-kinesis": async () => {
    const kinesis: KinesisTestServer = await startKinesis();
    await kinesis.createStream("crash", 2);
    return {
      id: "amazon-kinesis",
      connection: {
        region: kinesis.region,
        accessKeyId: kinesis.accessKeyId,
        secretAccessKey: kinesis.secretAccessKey,
        endpoint: kinesis.endpoint,
      },
      details: { streamName: "crash" },
      read: async () =>
        (await kinesis.readRecords("crash")).map(
          (r) => ({ key: r.partitionKey, payload: r.data }) as Received,
        ),
      refuse: async () => kinesis.refuseCalls(1_000_000),
      accept: async () => kinesis.refuseCalls(0),
      close: () => kinesis.stop(),
    };
  },
};
const served = Object.keys(candidates).find((id) => destinationDefinitions.some((d) => d.id === id));

// Killed while the destination refuses every call (the acknowledged changes wait in the outbox),
// and while it accepts them (sends in flight, deletes of the delivered not yet run), on each engine.
describe.each(engines)("kill -9 of a Herald process in the middle of a stream, on %s", (engine) => {
  // Runs once a streaming connector (HTTP or Kinesis) is in the catalog that `herald start` serves.
  it.runIf(served !== undefined).each([
    { destinationUp: false, moment: "while the destination refuses" },
    { destinationUp: true, moment: "while messages are being delivered" },
  ])(
    "loses no acknowledged change, killed $moment: every one reaches the destination at least once after a restart",
    async ({ destinationUp }) => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-crash-"));
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      // A destination of its own: each test's profiles have the same names.
      const target = await (candidates[served as string] as () => Promise<CrashDestination>)();
      const databaseUrl = engine === "postgres" ? await freshPostgresDatabase() : undefined;
      let child = startHerald(dataDir, port, databaseUrl);
      try {
        await waitUntilUp(base, child);
        await post(base, "/v1/segments", { id: "gold-buyers", name: "Gold buyers", definition: GOLD_BUYERS });
        const account = (await post(base, "/v1/accounts", {
          destination: target.id,
          name: "Stream",
          connection: target.connection,
          details: target.details,
        })) as { id: string };
        await post(base, "/v1/dataflows", {
          name: "Real time",
          accountId: account.id,
          details: target.details,
          status: "enabled",
          segments: [{ segmentId: "gold-buyers", schedule: { frequency: "streaming" } }],
          mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
        });
        const everyone = Array.from({ length: PROFILES }, (_, i) => ({
          personalEmail: { address: email(i) },
          loyalty: { tier: "gold" },
        }));
        await post(base, "/v1/profiles/stream", everyone, true);

        // Stream purchases (each one realizes its profile); kill -9 while a request is in flight.
        if (!destinationUp) await target.refuse();
        const requests = PROFILES / PER_REQUEST;
        const killAt = Math.floor(requests / 2);
        let acknowledged = 0;
        for (let r = 0; r < killAt; r++) {
          await post(base, "/v1/events/stream", purchases(r * PER_REQUEST), true);
          acknowledged = r + 1;
        }
        const inFlight = post(base, "/v1/events/stream", purchases(killAt * PER_REQUEST), true).catch(
          () => undefined,
        );
        await new Promise((r) => setTimeout(r, 5));
        // Listening before the kill: the exit may come before the in-flight request fails.
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await inFlight;
        await exited;

        if (!destinationUp) await target.accept();
        child = startHerald(dataDir, port, databaseUrl);
        await waitUntilUp(base, child);
        // The client resends what was not acknowledged, then the rest of the stream.
        for (let r = acknowledged; r < requests; r++) {
          await post(base, "/v1/events/stream", purchases(r * PER_REQUEST), true);
        }
        // And half of the audience leaves.
        await post(
          base,
          "/v1/profiles/stream",
          everyone.filter((_, i) => i % 2 === 0).map((p) => ({ ...p, loyalty: { tier: "silver" } })),
          true,
        );

        const expected = (i: number) => (i % 2 === 0 ? ["realized", "exited"] : ["realized"]);
        const read = () => target.read();
        const deadline = Date.now() + 30_000;
        let received = await read();
        while (
          !Array.from({ length: PROFILES }, (_, i) => i).every(
            (i) => statusesOf(received, email(i)).join() === expected(i).join(),
          )
        ) {
          if (Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 100));
          received = await read();
        }
        for (let i = 0; i < PROFILES; i++) expect(statusesOf(received, email(i))).toEqual(expected(i));
      } finally {
        child.kill("SIGKILL");
        await target.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      }
    },
    90_000,
  );
});
