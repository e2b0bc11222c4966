import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventHubsDestination } from "../../src/destinations/event-hubs/index.ts";
import { httpDestination } from "../../src/destinations/http/index.ts";
import { kinesisDestination } from "../../src/destinations/kinesis/index.ts";
import { defaultRetryPolicy } from "../../src/streaming/index.ts";
import { type EventHubsTestServer, startEventHubs } from "../servers/event-hubs.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { type KinesisTestServer, startKinesis } from "../servers/kinesalite.ts";
import { engines } from "../support/stores.ts";
import {
  type DestinationUnderTest,
  eventually,
  type HeraldUnderTest,
  type Received,
  statusesOf,
  streamingHerald,
} from "./harness.ts";

const DAY = 86_400_000;
let kinesis: KinesisTestServer;
let eventHubs: EventHubsTestServer;
let streams = 0;
const HUBS = Array.from({ length: 8 }, (_, i) => `audiences-${i + 1}`);
let hubs = 0;

async function kinesisDestinationUnderTest(): Promise<DestinationUnderTest> {
  const streamName = `audiences-${++streams}`;
  await kinesis.createStream(streamName, 2);
  return {
    definition: kinesisDestination,
    connection: {
      region: kinesis.region,
      accessKeyId: kinesis.accessKeyId,
      secretAccessKey: kinesis.secretAccessKey,
      endpoint: kinesis.endpoint,
    },
    details: { streamName },
    received: async () =>
      (await kinesis.readRecords(streamName)).map(
        (r) => ({ key: r.partitionKey, payload: r.data }) as Received,
      ),
    outage: (sends) => kinesis.refuseCalls(sends),
  };
}

async function eventHubsDestinationUnderTest(): Promise<DestinationUnderTest> {
  const eventHubName = HUBS[hubs++ % HUBS.length] as string;
  return {
    definition: eventHubsDestination as DestinationUnderTest["definition"],
    connection: { connectionString: eventHubs.connectionString() },
    details: { eventHubName },
    received: async () =>
      eventHubs.messages
        .filter((m) => m.hub === eventHubName)
        // The connector picks each profile's partition itself (the service's key hash), so the
        // profile is read from the body rather than a partition-key annotation.
        .map((m) => {
          const payload = m.body as Received["payload"];
          return { key: m.partitionKey ?? payload.profileId, payload };
        }),
    outage: (sends) => eventHubs.refuseTransfers(sends),
  };
}

const recorders: HttpRecorder[] = [];

async function httpDestinationUnderTest(): Promise<DestinationUnderTest> {
  const recorder = await startHttpRecorder({ auth: { type: "bearer", token: "herald-test-token" } });
  recorders.push(recorder);
  return httpDestinationOn(recorder, "herald-test-token");
}

/** An HTTP destination on a recorder that takes `token`. */
function httpDestinationOn(recorder: HttpRecorder, token: string): DestinationUnderTest {
  return {
    definition: httpDestination as DestinationUnderTest["definition"],
    connection: { url: `${recorder.url}/audiences`, authType: "bearer", token },
    details: { batchSize: 50 },
    received: async () =>
      recorder.requests.flatMap((r) =>
        ((r.body as { records?: Received["payload"][] })?.records ?? []).map((payload) => ({
          key: payload.profileId,
          payload,
        })),
      ),
    // The recorder records refused requests too: outages take it off the network instead.
    outage: () => {
      throw new Error("use down() / up() with the HTTP recorder");
    },
    down: () => recorder.stop(),
    up: () => recorder.start(),
  };
}

beforeAll(async () => {
  kinesis = await startKinesis();
  eventHubs = await startEventHubs({
    hubs: Object.fromEntries(HUBS.map((hub) => [hub, { partitions: 2 }])),
    keys: [{ name: "herald-send", key: "aGVyYWxkLXNlbmQta2V5LWZvci10ZXN0cw==" }],
  });
});
afterAll(async () => {
  await kinesis?.stop();
  await eventHubs?.close();
  for (const recorder of recorders) await recorder.close();
});

const destinations = [
  // Dead-lettering is the dispatcher's, the same for every connector: checked once per engine.
  { name: "HTTP endpoint (recorder)", start: httpDestinationUnderTest, deadLetters: true, keys: false },
  // The one that receives the partition key itself (HTTP and Event Hubs only order by it).
  { name: "Amazon Kinesis (kinesalite)", start: kinesisDestinationUnderTest, deadLetters: false, keys: true },
  {
    name: "Azure Event Hubs (AMQP test endpoint)",
    start: eventHubsDestinationUnderTest,
    deadLetters: false,
    keys: false,
  },
];

/** Each person buys, then goes gold, silver, gold, silver, gold: five membership changes each. */
async function qualifyAndFlap(h: HeraldUnderTest, people: readonly string[]) {
  for (const email of people) {
    await h.purchase(email);
    for (const tier of ["gold", "silver", "gold", "silver", "gold"]) await h.tier(email, tier);
  }
}

/** Waits for each person's five changes at the destination, and checks they arrived in order. */
async function flapsReceivedInOrder(destination: DestinationUnderTest, people: readonly string[]) {
  const received = await eventually(
    destination.received,
    (r) => people.every((p) => statusesOf(r, p).length >= 5),
    20_000,
  );
  for (const email of people) {
    expect(statusesOf(received, email)).toEqual(["realized", "exited", "realized", "exited", "realized"]);
  }
}

/** Registers a test only where it applies: tests the matrix leaves out are not listed as skipped. */
const onlyWhen = (condition: boolean): typeof it =>
  condition ? it : ((() => undefined) as unknown as typeof it);

describe.each(engines)("real-time activation on %s", (engine) => {
  let herald: HeraldUnderTest | undefined;
  afterEach(async () => {
    await herald?.close();
    herald = undefined;
  });

  describe.each(destinations)("to $name", ({ start, deadLetters, keys }) => {
    it("delivers one realized when a profile qualifies, exited when a change disqualifies it, exited when the window closes", async () => {
      const destination = await start();
      herald = await streamingHerald(engine, destination);
      const h = herald;
      await h.tier("ann@example.com", "gold");
      await h.tier("bob@example.com", "gold");
      await h.purchase("ann@example.com");
      await h.purchase("bob@example.com");
      // Another purchase while qualified changes nothing.
      await h.purchase("ann@example.com");
      let received = await eventually(destination.received, (r) => r.length >= 2);
      await new Promise((r) => setTimeout(r, 200));
      received = await destination.received();
      expect(received.map((r) => r.payload.segmentMembership.herald["gold-buyers"]?.status)).toEqual([
        "realized",
        "realized",
      ]);
      const ann = received.find((r) => r.payload.profileId === "ann@example.com");
      expect(ann?.payload).toMatchObject({
        profileId: "ann@example.com",
        identities: { email: "ann@example.com" },
        attributes: { loyalty_tier: "gold" },
      });

      // Ann leaves gold: exited.
      await h.tier("ann@example.com", "silver");
      received = await eventually(destination.received, (r) => r.length >= 3);
      expect(statusesOf(received, "ann@example.com")).toEqual(["realized", "exited"]);
      // (Kinesis is read shard by shard: Ann's messages are in order, not necessarily after Bob's.)
      const annLast = received.filter((r) => r.payload.profileId === "ann@example.com").at(-1);
      expect(annLast?.payload.attributes).toEqual({ loyalty_tier: "silver" });

      // Eight days later, with no new purchase, Bob's window has closed: the sweep exits him.
      h.clock.now += 8 * DAY;
      expect(await h.streaming.sweeper.sweepNow()).toBe(1);
      received = await eventually(destination.received, (r) => r.length >= 4);
      expect(statusesOf(received, "bob@example.com")).toEqual(["realized", "exited"]);
      // The counters move once the outbox rows are gone, just after the destination's acknowledgement.
      const metrics = await eventually(h.streaming.metricsJson, (m) => m.delivered === 4);
      expect(metrics).toMatchObject({
        membershipChanges: { realized: 2, exited: 2 },
        delivered: 4,
        deadLettered: 0,
      });
      expect(metrics.latency.count).toBe(4);
      expect((await h.app.inject("/metrics")).body).toContain("herald_streaming_delivered_total 4");
      expect((await h.app.inject("/v1/streaming/metrics")).json()).toMatchObject({ delivered: 4 });
    });

    it("delivers everything, in order per profile, after the destination was down for a while", async () => {
      const destination = await start();
      herald = await streamingHerald(engine, destination);
      const h = herald;
      const people = ["a", "b", "c", "d"].map((p) => `${p}@example.com`);
      // Down for real (port closed) where the server can, else refusing its next sends.
      if (destination.down) await destination.down();
      else destination.outage(6);
      await qualifyAndFlap(h, people);
      if (destination.up) {
        await eventually(h.streaming.metricsJson, (m) => m.retried >= 2);
        await destination.up();
      }
      await flapsReceivedInOrder(destination, people);
      const metrics = await eventually(h.streaming.metricsJson, (m) => m.delivered >= 20);
      expect(metrics.retried).toBeGreaterThan(0);
      expect(metrics.deadLettered).toBe(0);
      await eventually(
        () => h.store.queryGlobal("SELECT id FROM streaming_outbox"),
        (rows) => rows.length === 0,
      );
    });

    onlyWhen(keys)(
      "keys a profile's messages with one key that reveals nothing of the id, not even as its SHA-256",
      async () => {
        const destination = await start();
        herald = await streamingHerald(engine, destination);
        const h = herald;
        for (const email of ["ann@example.com", "bob@example.com"]) {
          await h.tier(email, "gold");
          await h.purchase(email);
        }
        await h.tier("ann@example.com", "silver");
        const received = await eventually(destination.received, (r) => r.length >= 3);
        const keysOf = (email: string) =>
          received.filter((r) => r.payload.profileId === email).map((r) => r.key);
        const [ann, again] = keysOf("ann@example.com");
        const [bob] = keysOf("bob@example.com");
        expect(ann).toMatch(/^[0-9a-f]{64}$/);
        expect(again).toBe(ann);
        expect(bob).toMatch(/^[0-9a-f]{64}$/);
        expect(bob).not.toBe(ann);
        // Not the SHA-256 of the email either, which lists of hashed emails would match.
        const sha256 = (email: string) => createHash("sha256").update(email).digest("hex");
        expect([ann, bob]).not.toContain(sha256("ann@example.com"));
        expect([ann, bob]).not.toContain(sha256("bob@example.com"));
      },
    );

    onlyWhen(deadLetters)(
      "dead-letters a message after its last attempt; the API lists, replays and discards dead letters",
      async () => {
        const destination = await start();
        herald = await streamingHerald(engine, destination, { maxAttempts: 2 });
        const h = herald;
        if (destination.down) await destination.down();
        else destination.outage(1_000);
        await h.tier("ann@example.com", "gold");
        await h.purchase("ann@example.com");
        await h.tier("bob@example.com", "gold");
        await h.purchase("bob@example.com");
        const dead = await eventually(
          async () => (await h.app.inject("/v1/deadletters")).json(),
          (page) => page.total === 2,
        );
        expect(dead.items[0]).toMatchObject({
          dataflowId: h.dataflowId,
          profileId: "ann@example.com",
          attempts: 2,
          payload: { segmentMembership: { herald: { "gold-buyers": { status: "realized" } } } },
        });
        expect(dead.items[0].lastError).toMatch(/\S/);
        // The counter moves just after the outcome is written: the API can see the rows first.
        await eventually(
          async () => (await h.streaming.metricsJson()).deadLettered,
          (n) => n === 2,
        );

        if (destination.up) await destination.up();
        else destination.outage(0);
        const bob = dead.items.find((d: { profileId: string }) => d.profileId === "bob@example.com");
        expect(await h.post("/v1/deadletters/discard", { ids: [bob.id] })).toEqual({
          count: 1,
          notTaken: [],
        });
        // bob's is gone: asked again, it is named as not taken.
        expect(await h.post("/v1/deadletters/replay", { ids: [bob.id, dead.items[0].id] })).toEqual({
          count: 1,
          notTaken: [bob.id],
        });
        const received = await eventually(destination.received, (r) => r.length >= 1);
        expect(received.map((r) => r.key)).toEqual(["ann@example.com"]);
        expect((await h.app.inject("/v1/deadletters")).json().total).toBe(0);
        const refused = await h.app.inject({ method: "POST", url: "/v1/deadletters/replay", payload: {} });
        expect(refused.statusCode).toBe(400);
      },
    );

    onlyWhen(deadLetters)(
      "takes newline-delimited JSON, storing good lines and reporting bad ones by row",
      async () => {
        const destination = await start();
        herald = await streamingHerald(engine, destination);
        const h = herald;
        await h.tier("ann@example.com", "gold");
        const lines = [
          JSON.stringify({
            type: "commerce.purchases",
            timestamp: new Date(h.clock.now).toISOString(),
            identity: { email: "ann@example.com" },
          }),
          "{not json",
          "",
          // Over the body limit the harness sets (1 MiB): rejected by its row, never held whole.
          JSON.stringify({ type: "web.pageView", padding: "x".repeat(1_100_000) }),
          JSON.stringify({
            type: "web.pageView",
            timestamp: "yesterday",
            identity: { email: "ann@example.com" },
          }),
        ];
        const response = await h.app.inject({
          method: "POST",
          url: "/v1/events/stream",
          headers: { "content-type": "application/x-ndjson" },
          payload: lines.join("\n"),
        });
        expect(response.statusCode).toBe(207);
        const report = response.json();
        expect(report).toMatchObject({ received: 4, stored: 1, rejected: 3, issuesTruncated: false });
        // Rows are the body's line numbers from 1, the blank line counted.
        expect(report.issues.map((i: { row: number }) => i.row)).toEqual([2, 4, 5]);
        expect(report.issues[1].message).toMatch(
          /^line is 1100\d{3} bytes, over the 1048576 a record may take/,
        );
        expect(report.issues[2].field).toBe("timestamp");
        const received = await eventually(destination.received, (r) => r.length >= 1);
        expect(statusesOf(received, "ann@example.com")).toEqual(["realized"]);
        const json = await h.app.inject({ method: "POST", url: "/v1/events/stream", payload: { a: 1 } });
        expect(json.statusCode).toBe(415);
      },
    );
  });
});

// With the default policy's shape (its attempts, and its cap as many times its base), scaled down
// 250 times: the span a message is held through is the default's hour at least, in 15 s.
const scaledDefaultPolicy = {
  maxAttempts: defaultRetryPolicy.maxAttempts,
  baseDelayMs: 1,
  maxDelayMs: defaultRetryPolicy.maxDelayMs / defaultRetryPolicy.baseDelayMs,
};

// A destination that fails for a while, whatever the failure (5xx, then refusing the credentials
// while someone fixes them), gets everything once it recovers, in order per profile: the dataflow
// waits, as a whole, rather than turning the stream into dead letters.
describe.each(engines)("a failing destination on %s", (engine) => {
  let herald: HeraldUnderTest | undefined;
  afterEach(async () => {
    await herald?.close();
    herald = undefined;
  });

  it("holds the stream through a while of 503s then 401s, trying the dataflow as a whole, and delivers everything in order when it recovers", async () => {
    const token = "herald-test-token";
    const recorder = await startHttpRecorder({ auth: { type: "bearer", token } });
    recorders.push(recorder);
    const destination = await httpDestinationOn(recorder, token);
    herald = await streamingHerald(engine, destination, scaledDefaultPolicy);
    const h = herald;
    // Five 503s, then 401s: the token was rotated at the endpoint and not yet in Herald.
    recorder.respondWith({ status: 503 }, 5);
    recorder.setAuth({ type: "bearer", token: "rotated-token" });
    const people = ["a", "b", "c", "d"].map((p) => `${p}@example.com`);
    await qualifyAndFlap(h, people);
    const ingested = recorder.requests.length;
    await eventually(
      async () => recorder.requests.length,
      (n) => n >= Math.max(ingested, 5) + 4,
      10_000,
    );
    // Every profile's first message waits; every retry carries them all (the dataflow is retried
    // as a whole, not profile by profile); none is a dead letter.
    // (The first may have left before the last profile's message was committed.)
    const retries = recorder.requests.slice(ingested + 1);
    for (const r of retries) {
      expect(
        new Set((r.body as { records: { profileId: string }[] }).records.map((m) => m.profileId)),
      ).toEqual(new Set(people));
    }
    expect((await h.streaming.metricsJson()).deadLettered).toBe(0);
    recorder.setAuth({ type: "bearer", token });
    await flapsReceivedInOrder(destination, people);
    expect((await h.streaming.metricsJson()).deadLettered).toBe(0);
    await eventually(
      () => h.store.queryGlobal("SELECT id FROM streaming_outbox"),
      (rows) => rows.length === 0,
    );
  });
});
