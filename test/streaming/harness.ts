import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll } from "vitest";
import { createDataflow, type DataflowInput } from "../../src/activation/index.ts";
import { migrateParts } from "../../src/api/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import { httpDestination } from "../../src/destinations/http/index.ts";
import {
  type AccountDeps,
  createAccount,
  createCatalog,
  type DestinationDefinition,
  destinationDefinitions,
} from "../../src/destinations/index.ts";
import { createSegment } from "../../src/segments/index.ts";
import type { Engine, Store } from "../../src/store/index.ts";
import {
  createStreamingService,
  type RetryPolicy,
  type StreamingService,
} from "../../src/streaming/index.ts";
import { queueMessages } from "../../src/streaming/outbox.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";

/** A message as a destination received it: the partition key and the JSON payload. */
export interface Received {
  key: string;
  payload: {
    profileId: string;
    identities: Record<string, unknown>;
    attributes: Record<string, unknown>;
    segmentMembership: { herald: Record<string, { status: string; lastQualificationTime: string }> };
  };
}

/** A real destination server started for a test, and how to read back what it received. */
export interface DestinationUnderTest {
  definition: DestinationDefinition;
  connection: Record<string, unknown>;
  details: Record<string, unknown>;
  received(): Promise<Received[]>;
  /** Makes the destination refuse the next sends (0: accept again). */
  outage(sends: number): void;
  /** Takes the destination off the network and brings it back on the same address, when it can. */
  down?(): Promise<void>;
  up?(): Promise<void>;
}

export const GOLD_BUYERS = 'loyalty.tier = "gold" and exists(commerce.purchases within last 7 days)';

/** Herald's API over a fresh store, with the streaming path wired to one destination and a controllable clock. */
export async function streamingHerald(
  engine: Engine,
  destination: DestinationUnderTest,
  retry: Partial<RetryPolicy> = {},
) {
  const { store } = await storeWithDefaultSchema(engine);
  const clock = { now: Date.now() };
  const deps: AccountDeps = {
    store,
    catalog: createCatalog([destination.definition]),
    keys: localKeyProvider(randomBytes(32)),
  };
  const streaming = createStreamingService(deps, {
    logger: pino({ level: "silent" }),
    now: () => new Date(clock.now),
    retry: { baseDelayMs: 20, maxDelayMs: 200, maxAttempts: 50, ...retry },
    pollMs: 20,
  });
  const { app } = await apiFor(store, { catalog: deps.catalog, streaming } as Parameters<typeof apiFor>[1]);
  await createSegment(store, "prod", { id: "gold-buyers", name: "Gold buyers", definition: GOLD_BUYERS });
  const account = await createAccount(deps, "prod", {
    destinationId: destination.definition.id,
    name: "Stream",
    connection: destination.connection,
    details: destination.details,
  });
  const dataflow = await createDataflow(deps, "prod", {
    name: "Gold buyers in real time",
    accountId: account.id,
    details: destination.details,
    status: "enabled",
    segments: [{ segmentId: "gold-buyers", schedule: { frequency: "streaming" } }],
    mapping: {
      columns: [
        { source: { kind: "identity", namespace: "email" } },
        { source: { kind: "attribute", path: "loyalty.tier" } },
      ],
    },
  });
  streaming.start();
  return heraldUnderTest(app, store, streaming, clock, dataflow.id);
}

/**
 * A fresh store with the default schema, the given segments (id → definition), and one enabled
 * dataflow streaming them to an HTTP endpoint: what the streaming parts need, without the API.
 */
export async function storeStreamingTo(engine: Engine, url: string, segments: Record<string, string>) {
  const { store, schema } = await storeWithDefaultSchema(engine);
  await migrateParts(store);
  for (const [id, definition] of Object.entries(segments)) {
    await createSegment(store, "prod", { id, name: id, definition });
  }
  const deps: AccountDeps = {
    store,
    catalog: createCatalog(destinationDefinitions),
    keys: localKeyProvider(randomBytes(32)),
  };
  const dataflow = await streamingDataflowTo(deps, url, {
    name: "Stream",
    segmentIds: Object.keys(segments),
    mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
  });
  return { store, schema, deps, dataflow };
}

/**
 * An enabled dataflow streaming `segmentIds` to an HTTP endpoint, with an account of its own on
 * `destinationId`: the HTTP connector (the default) or a preset delivering through it.
 */
export async function streamingDataflowTo(
  deps: AccountDeps,
  url: string,
  input: {
    name: string;
    segmentIds: string[];
    mapping: DataflowInput["mapping"];
    destinationId?: string;
    marketingActions?: string[];
  },
) {
  const account = await createAccount(deps, "prod", {
    destinationId: input.destinationId ?? httpDestination.id,
    name: input.name,
    connection: { url },
    details: {},
  });
  return createDataflow(deps, "prod", {
    name: input.name,
    accountId: account.id,
    details: {},
    status: "enabled",
    marketingActions: input.marketingActions ?? [],
    segments: input.segmentIds.map((segmentId) => ({ segmentId, schedule: { frequency: "streaming" } })),
    mapping: input.mapping,
  });
}

/**
 * For one file's tests on one engine: an HTTP recorder started for the file, and `open`, a store
 * streaming the given segments to `path` on it, closed after each test.
 */
export function streamingStores(engine: Engine) {
  let recorder: HttpRecorder | undefined;
  let opened: Store | undefined;
  beforeAll(async () => {
    recorder = await startHttpRecorder();
  });
  afterAll(async () => {
    await recorder?.close();
  });
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
  });
  const started = () => {
    if (!recorder) throw new Error("the recorder starts before the file's tests");
    return recorder;
  };
  return {
    async open(path: string, segments: Record<string, string>) {
      const created = await storeStreamingTo(engine, `${started().url}/${path}`, segments);
      opened = created.store;
      return created;
    },
    /** The endpoint's address for `path`. */
    url: (path: string) => `${started().url}/${path}`,
    /** The records `path` received, in order. */
    received: (path: string) =>
      started()
        .requests.filter((r) => r.path === `/${path}`)
        .flatMap((r) => (r.body as { records: Received["payload"][] }).records),
  };
}

export type HeraldUnderTest = ReturnType<typeof heraldUnderTest>;

function heraldUnderTest(
  app: FastifyInstance,
  store: Store,
  streaming: StreamingService,
  clock: { now: number },
  dataflowId: string,
) {
  const post = async (url: string, payload: unknown) => {
    const response = await app.inject({ method: "POST", url, payload: payload as object });
    if (response.statusCode >= 300) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
    return response.json();
  };
  return {
    app,
    store,
    streaming,
    clock,
    dataflowId,
    post,
    tier: (email: string, tier: string) =>
      post("/v1/profiles", { personalEmail: { address: email }, loyalty: { tier } }),
    purchase: (email: string) =>
      post("/v1/events", {
        type: "commerce.purchases",
        timestamp: new Date(clock.now).toISOString(),
        identity: { email },
        properties: { priceTotal: 25 },
      }),
    async close() {
      await app.close();
      await streaming.stop();
      await store.close();
    },
  };
}

/** Polls until `check` holds (or fails with what it last saw). */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 15_000,
) {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > deadline)
      throw new Error(`timed out; last value: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 25));
    value = await read();
  }
  return value;
}

/** The statuses a profile received for a segment, in arrival order, consecutive repeats collapsed. */
export function statusesOf(
  received: readonly Received[],
  profileId: string,
  segmentId = "gold-buyers",
): string[] {
  const out: string[] = [];
  for (const r of received) {
    if (r.payload.profileId !== profileId) continue;
    const status = r.payload.segmentMembership.herald[segmentId]?.status;
    if (status && out[out.length - 1] !== status) out.push(status);
  }
  return out;
}

/** Queues one message per profile for the dataflow, its payload the profile id, as evaluation would. */
export function queueProfiles(store: Store, dataflowId: string, profileIds: string[]) {
  return store.transaction((tx) =>
    queueMessages(
      { ...tx, dialect: store.dialect },
      "prod",
      profileIds.map((profileId) => ({ dataflowId, profileId, payload: JSON.stringify({ profileId }) })),
      new Date(),
    ),
  );
}
