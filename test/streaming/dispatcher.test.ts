import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDataflow, setDataflowStatus } from "../../src/activation/index.ts";
import { httpDestination } from "../../src/destinations/http/index.ts";
import { type AccountDeps, createAccount } from "../../src/destinations/index.ts";
import type { Store } from "../../src/store/index.ts";
import { createDispatcher, createStreamingMetrics, metricsView } from "../../src/streaming/index.ts";
import { queueMessages } from "../../src/streaming/outbox.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { engines } from "../support/stores.ts";
import { eventually, streamingStores } from "./harness.ts";

/** Commits a message for each of `profileIds` to the outbox, as an ingestion commit would. */
function queueAll(store: Store, dataflowId: string, profileIds: readonly string[], seq = 0) {
  return store.transaction((tx) =>
    queueMessages(
      { ...tx, dialect: store.dialect },
      "prod",
      profileIds.map((profileId) => ({ dataflowId, profileId, payload: JSON.stringify({ profileId, seq }) })),
      new Date(),
    ),
  );
}

const queueOne = (store: Store, dataflowId: string, profileId: string) =>
  queueAll(store, dataflowId, [profileId]);

/** An HTTP recorder of the describe block's own, started before its tests and closed after. */
function ownRecorder(): () => HttpRecorder {
  let recorder: HttpRecorder | undefined;
  beforeAll(async () => {
    recorder = await startHttpRecorder();
  });
  afterAll(async () => {
    await recorder?.close();
  });
  return () => {
    if (!recorder) throw new Error("the recorder starts before the block's tests");
    return recorder;
  };
}

// The ingestion hands the messages it committed to the dispatcher, which sends them without
// reading the outbox back, as long as the outbox holds nothing else.
describe.each(engines)("the dispatcher's hand-over on %s", (engine) => {
  const stores = streamingStores(engine);
  let store: Store;

  async function setUp() {
    const path = `handover-${engine}`;
    const created = await stores.open(path, { gold: 'loyalty.tier = "gold"' });
    store = created.store;
    const { deps, dataflow } = created;
    const dispatcher = createDispatcher({ ...deps, metrics: createStreamingMetrics(), pollMs: 60_000 });
    const message = (profileId: string) => ({
      dataflowId: dataflow.id,
      profileId,
      payload: JSON.stringify({ profileId }),
    });
    const received = () => stores.received(path).map((m) => m.profileId);
    return { dispatcher, message, received };
  }

  it("sends what it is handed without reading the outbox, and never twice what a read already sent", async () => {
    const { dispatcher, message, received } = await setUp();
    // Committed and read by the first round, then handed over late: sent once.
    const [ann] = await store.transaction((tx) =>
      queueMessages({ ...tx, dialect: store.dialect }, "prod", [message("ann")], new Date()),
    );
    expect(await dispatcher.dispatchNow()).toBe(1);
    dispatcher.offer(ann ? [ann] : []);
    // Handed over but not in the outbox at all: only the hand-over can send it.
    dispatcher.offer([
      { ...(ann as NonNullable<typeof ann>), id: 999_999, profileId: "bob", payload: '{"profileId":"bob"}' },
    ]);
    expect(await dispatcher.dispatchNow()).toBe(1);
    expect(received()).toEqual(["ann", "bob"]);
    await dispatcher.stop();
  });

  it("reads the outbox less often while everything comes handed over, and at once again after a message that did not; deletes what it delivered together", async () => {
    const created = await stores.open(`quiet-${engine}`, { gold: 'loyalty.tier = "gold"' });
    store = created.store;
    let reads = 0;
    let deletes = 0;
    const counting: Store = {
      ...store,
      queryGlobal: (sql, params) => {
        if (sql.includes("FROM streaming_outbox WHERE state")) reads++;
        if (sql.startsWith("DELETE FROM streaming_outbox")) deletes++;
        return store.queryGlobal(sql, params);
      },
    };
    const dispatcher = createDispatcher({
      ...created.deps,
      store: counting,
      metrics: createStreamingMetrics(),
      pollMs: 20,
      quietPollMs: 320,
    });
    const queue = (profileId: string) => queueOne(store, created.dataflow.id, profileId);
    const received = () => stores.received(`quiet-${engine}`).map((m) => m.profileId);
    dispatcher.start();
    // A second of messages committed and handed over: reading every 20 ms would be ~50 reads.
    const started = performance.now();
    for (let i = 0; performance.now() - started < 1_000; i++) {
      dispatcher.offer(await queue(`p${i}`));
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(reads).toBeLessThan(25);
    // ~40 rounds each sent one message; their deletes went together, at most every 100 ms.
    expect(deletes).toBeLessThan(20);
    // Committed by someone else (never handed over): found by a read within the longest wait.
    await queue("foreign");
    await eventually(
      async () => received(),
      (names) => names.includes("foreign"),
      5_000,
    );
    await dispatcher.stop();
    // Everything delivered has left the outbox, and nothing was sent twice.
    const [left] = await store.queryGlobal<{ n: number }>("SELECT count(*) AS n FROM streaming_outbox");
    expect(Number(left?.n)).toBe(0);
    expect(new Set(received()).size).toBe(received().length);
  });
  it("sends what it is handed while the DELETE of what it delivered still runs, and reads the outbox only after it", async () => {
    const path = `slow-delete-${engine}`;
    const created = await stores.open(path, { gold: 'loyalty.tier = "gold"' });
    store = created.store;
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let deleting = 0;
    let readsWhileDeleting = 0;
    const slowDeletes: Store = {
      ...store,
      queryGlobal: async (sql, params) => {
        if (sql.startsWith("DELETE FROM streaming_outbox")) {
          deleting++;
          await gate;
          deleting--;
        }
        if (sql.includes("FROM streaming_outbox WHERE state") && deleting) readsWhileDeleting++;
        return store.queryGlobal(sql, params);
      },
    };
    const dispatcher = createDispatcher({
      ...created.deps,
      store: slowDeletes,
      metrics: createStreamingMetrics(),
      pollMs: 60_000,
      deleteEveryMs: 0,
    });
    const queue = (profileId: string) => queueOne(store, created.dataflow.id, profileId);
    const received = async () => stores.received(path).map((m) => m.profileId);
    dispatcher.start();
    dispatcher.offer(await queue("ann"));
    await eventually(
      async () => deleting,
      (n) => n === 1,
      5_000,
    );
    // The DELETE of ann's message hangs; bob's, handed over meanwhile, goes out all the same.
    dispatcher.offer(await queue("bob"));
    await eventually(received, (names) => names.includes("bob"), 5_000);
    expect(deleting).toBe(1);
    release();
    await dispatcher.stop();
    expect(readsWhileDeleting).toBe(0);
    expect(await received()).toEqual(["ann", "bob"]);
    const [left] = await store.queryGlobal<{ n: number }>("SELECT count(*) AS n FROM streaming_outbox");
    expect(Number(left?.n)).toBe(0);
  });
});

// The rate limit per destination account: a second's worth at once, then one record per
// 1/recordsPerSecond; what waits stays in the outbox, in order.
describe.each(engines)("the dispatcher's rate limit on %s", (engine) => {
  const stores = streamingStores(engine);

  it("sends at most recordsPerSecond a second to an account, the rest later and in order", async () => {
    const path = `rate-${engine}`;
    const created = await stores.open(path, { gold: 'loyalty.tier = "gold"' });
    const dispatcher = createDispatcher({
      ...created.deps,
      metrics: createStreamingMetrics(),
      pollMs: 50,
      recordsPerSecond: 1,
    });
    for (const name of ["a", "b", "c"]) await queueOne(created.store, created.dataflow.id, name);
    const received = () => stores.received(path).map((m) => m.profileId);
    // One second's worth now (one record), nothing more until time passes.
    const started = performance.now();
    expect(await dispatcher.dispatchNow()).toBe(1);
    expect(await dispatcher.dispatchNow()).toBe(0);
    dispatcher.start();
    await eventually(
      async () => received(),
      (names) => names.length === 3,
      10_000,
    );
    await dispatcher.stop();
    expect(received()).toEqual(["a", "b", "c"]);
    // Two more records at one a second: the last no sooner than two seconds after the first.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_950);
  });
});

// The outbox is a queue whose rows live for moments: the dispatcher vacuums it itself (autovacuum
// comes at most once a minute), beside its rounds, and a failed vacuum costs no delivery.
describe("the dispatcher's vacuum of the outbox on postgres", () => {
  const stores = streamingStores("postgres");

  /**
   * Delivers `names` one message at a time (each deleted on its own) through a dispatcher with the
   * given vacuum settings; `failVacuum(n)` makes the n-th VACUUM fail. Returns the VACUUMs issued.
   */
  async function deliverOneByOne(
    path: string,
    names: readonly string[],
    settings: { vacuumEveryRows: number; vacuumMinIntervalMs: number },
    failVacuum: (n: number) => boolean = () => false,
  ) {
    const created = await stores.open(path, { gold: 'loyalty.tier = "gold"' });
    const { store } = created;
    let vacuums = 0;
    const vacuumCounting: Store = {
      ...store,
      queryGlobal: (sql, params) => {
        if (sql.startsWith("VACUUM") && failVacuum(++vacuums))
          return Promise.reject(new Error("canceling statement due to lock timeout"));
        return store.queryGlobal(sql, params);
      },
    };
    const dispatcher = createDispatcher({
      ...created.deps,
      store: vacuumCounting,
      metrics: createStreamingMetrics(),
      pollMs: 60_000,
      deleteEveryMs: 0,
      ...settings,
    });
    const received = () => stores.received(path).map((m) => m.profileId);
    dispatcher.start();
    for (const name of names) {
      dispatcher.offer(await queueOne(store, created.dataflow.id, name));
      await eventually(
        async () => received(),
        (got) => got.includes(name),
        5_000,
      );
    }
    await dispatcher.stop();
    return { vacuums, received: received(), store };
  }

  it("vacuums after every vacuumEveryRows deleted messages, and delivers on when a vacuum fails", async () => {
    const names = ["a", "b", "c", "d", "e", "f", "g"];
    const { vacuums, received, store } = await deliverOneByOne(
      "vacuum-postgres",
      names,
      { vacuumEveryRows: 3, vacuumMinIntervalMs: 0 },
      (n) => n === 1,
    );
    // Seven deleted one by one: a vacuum after the third (failed) and after the sixth.
    expect(vacuums).toBe(2);
    expect(received).toEqual(names);
    const [left] = await store.queryGlobal<{ n: number }>("SELECT count(*) AS n FROM streaming_outbox");
    expect(Number(left?.n)).toBe(0);
    // The second one ran for real: PostgreSQL counts it (its statistics arrive within a second).
    await eventually(
      async () =>
        Number(
          (
            await store.queryGlobal<{ n: number }>(
              "SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'streaming_outbox'",
            )
          )[0]?.n,
        ),
      (n) => n >= 1,
      5_000,
    );
  });

  it("vacuums at most once per vacuumMinIntervalMs", async () => {
    const { vacuums, received } = await deliverOneByOne("vacuum-interval-postgres", ["a", "b", "c", "d"], {
      vacuumEveryRows: 1,
      vacuumMinIntervalMs: 60_000,
    });
    expect(received).toEqual(["a", "b", "c", "d"]);
    expect(vacuums).toBe(1);
  });
});

/** Another enabled dataflow of the store's segment `gold`, streaming to `url`. */
async function dataflowTo(deps: AccountDeps, url: string, name: string) {
  const account = await createAccount(deps, "prod", {
    destinationId: httpDestination.id,
    name,
    connection: { url },
    details: {},
  });
  return createDataflow(deps, "prod", {
    name,
    accountId: account.id,
    details: {},
    status: "enabled",
    segments: [{ segmentId: "gold", schedule: { frequency: "streaming" } }],
    mapping: { columns: [{ source: { kind: "identity", namespace: "email" } }] },
  });
}

/** The (profile, seq) pairs an endpoint received, in arrival order. */
function receivedBy(recorder: HttpRecorder): { profileId: string; seq: number }[] {
  return recorder.requests.flatMap(
    (r) => (r.body as { records: { profileId: string; seq: number }[] }).records,
  );
}

/** Whether each profile's messages arrived in the order they were committed (seq ascending). */
function inOrderPerProfile(received: readonly { profileId: string; seq: number }[]): boolean {
  const last = new Map<string, number>();
  for (const { profileId, seq } of received) {
    if ((last.get(profileId) ?? -1) >= seq) return false;
    last.set(profileId, seq);
  }
  return true;
}

// A dataflow that cannot be sent to (paused, or its destination down) holds up no other, however
// many messages it has waiting: each read takes only what may be sent now, and a round that finds
// nothing sendable waits instead of reading the same messages again.
describe.each(engines)("the dispatcher with a dataflow that cannot be sent to on %s", (engine) => {
  const stores = streamingStores(engine);
  const stuckRecorder = ownRecorder();

  /**
   * A store with two dataflows: `stuck`, to its own endpoint, with a backlog of three messages for
   * each of ten profiles (30, three times the read limit of 10), older than everything else; and
   * `open`, to the shared recorder's `path`.
   */
  async function setUp(path: string) {
    const stuck = stuckRecorder();
    stuck.requests.length = 0;
    const created = await stores.open(path, { gold: 'loyalty.tier = "gold"' });
    const { store, deps } = created;
    const blocked = await dataflowTo(deps, `${stuck.url}/${path}`, "Stuck");
    for (let seq = 0; seq < 3; seq++) {
      for (let p = 0; p < 10; p++) await queueAll(store, blocked.id, [`p${p}`], seq);
    }
    let reads = 0;
    const counting: Store = {
      ...store,
      queryGlobal: (sql, params) => {
        if (sql.includes("FROM streaming_outbox WHERE state")) reads++;
        return store.queryGlobal(sql, params);
      },
    };
    const logged: { level: number; msg: string; dataflowId?: string }[] = [];
    const dispatcher = createDispatcher({
      ...deps,
      store: counting,
      metrics: createStreamingMetrics(),
      pollMs: 20,
      readLimit: 10,
      retry: { baseDelayMs: 20, maxDelayMs: 200 },
      logger: pino({ level: "info" }, { write: (line: string) => logged.push(JSON.parse(line)) }),
    });
    const pendingOf = (dataflowId: string) =>
      store.queryGlobal<{ attempts: number; state: string }>(
        "SELECT attempts, state FROM streaming_outbox WHERE dataflow_id = $1",
        [dataflowId],
      );
    const received = () => stores.received(path).map((m) => m.profileId);
    return {
      store,
      stuck,
      dispatcher,
      blocked,
      logged,
      reads: () => reads,
      pendingOf,
      /** Three messages of the other dataflow: delivered promptly, whatever the stuck one holds. */
      async othersDelivered() {
        for (const name of ["ann", "bob", "cid"]) await queueOne(store, created.dataflow.id, name);
        await eventually(
          async () => received(),
          (names) => names.length === 3,
          3_000,
        );
        expect(received()).toEqual(["ann", "bob", "cid"]);
      },
      /** Once it can be sent to, the stuck dataflow's backlog arrives whole, in order per profile. */
      async backlogDelivered() {
        const delivered = await eventually(
          async () => receivedBy(stuck),
          (got) => got.length >= 30,
          10_000,
        );
        await dispatcher.stop();
        expect(delivered).toHaveLength(30);
        expect(inOrderPerProfile(delivered)).toBe(true);
        expect(await pendingOf(blocked.id)).toEqual([]);
      },
    };
  }

  it("keeps a paused dataflow's messages untouched, delivers the others meanwhile without reading in a loop, and the paused one's in order once it resumes", async () => {
    const t = await setUp(`paused-${engine}`);
    await setDataflowStatus(t.store, "prod", t.blocked.id, "disabled");
    t.dispatcher.start();
    await t.othersDelivered();
    // Nothing is sendable: a read every pollMs (20 ms) at most, not one after the other.
    const readsBefore = t.reads();
    await new Promise((r) => setTimeout(r, 500));
    expect(t.reads() - readsBefore).toBeLessThanOrEqual(30);
    expect(receivedBy(t.stuck)).toEqual([]);
    const waiting = await t.pendingOf(t.blocked.id);
    expect(waiting).toHaveLength(30);
    expect(waiting.every((m) => m.state === "pending" && Number(m.attempts) === 0)).toBe(true);

    await setDataflowStatus(t.store, "prod", t.blocked.id, "enabled");
    await t.backlogDelivered();
  });

  it("sends each profile's oldest message in the first round, whatever another profile's backlog or a message waiting for its backoff", async () => {
    const path = `heads-${engine}`;
    const created = await stores.open(path, { gold: 'loyalty.tier = "gold"' });
    const { store, dataflow } = created;
    const queue = (profileId: string) => queueOne(store, dataflow.id, profileId);
    // Ann's message waits an hour for its next attempt; Heavy has 25, older than Bob's one.
    const [ann] = await queue("ann");
    await store.queryGlobal(
      "UPDATE streaming_outbox SET attempts = 3, next_attempt_at = CAST($1 AS TIMESTAMPTZ) WHERE id = $2",
      [new Date(Date.now() + 3_600_000), ann?.id],
    );
    for (let i = 0; i < 25; i++) await queue("heavy");
    await queue("bob");
    const dispatcher = createDispatcher({
      ...created.deps,
      metrics: createStreamingMetrics(),
      pollMs: 20,
      readLimit: 10,
    });
    expect(await dispatcher.dispatchNow()).toBe(26);
    await dispatcher.stop();
    // Bob's goes with Heavy's first, then one of Heavy's a round; Ann's waits.
    expect(stores.received(path).map((m) => m.profileId)).toEqual([
      "heavy",
      "bob",
      ...Array.from({ length: 24 }, () => "heavy"),
    ]);
  });

  it("delivers to the other dataflows while one's destination is down with a backlog, and the backlog in order once it is back", async () => {
    const t = await setUp(`down-${engine}`);
    await t.stuck.stop();
    t.dispatcher.start();
    await eventually(
      async () => (await t.pendingOf(t.blocked.id)).some((m) => Number(m.attempts) > 0),
      (failed) => failed,
      3_000,
    );
    await t.othersDelivered();
    await t.stuck.start();
    await t.backlogDelivered();
    // The operator hears of the hold (once per backoff, not per message) and of its end.
    const about = t.logged.filter((l) => l.dataflowId === t.blocked.id).map((l) => [l.level, l.msg]);
    expect(about[0]).toEqual([
      40,
      "streaming dataflow held: its destination failed the send; its messages wait",
    ]);
    expect(about.at(-1)).toEqual([30, "streaming dataflow resumed: its destination answered"]);
    expect(about.length).toBeLessThan(30);
  });
});

// What a destination refuses record by record dead-letters at once (no wait changes it); a request
// of several refused as a whole for its content is sent again one record at a time, so that one
// bad record does not take the others down with it.
describe.each(engines)("the dispatcher's record-level refusals on %s", (engine) => {
  const refusing = ownRecorder();
  const stores = streamingStores(engine);

  it("resends alone each record of a request refused whole, and dead-letters at once a record refused alone", async () => {
    const created = await stores.open(`refusals-${engine}`, { gold: 'loyalty.tier = "gold"' });
    const { store } = created;
    const recorder = refusing();
    const dataflow = await dataflowTo(created.deps, `${recorder.url}/refusals-${engine}`, "Refusing");
    const dispatcher = createDispatcher({ ...created.deps, metrics: createStreamingMetrics(), pollMs: 20 });
    const queue = (names: string[]) => queueAll(store, dataflow.id, names);
    const outbox = () =>
      store.queryGlobal<{ profile_id: string; state: string; attempts: number; last_error: string }>(
        "SELECT profile_id, state, attempts, last_error FROM streaming_outbox WHERE dataflow_id = $1",
        [dataflow.id],
      );
    recorder.requests.length = 0;
    dispatcher.offer(await queue(["ann", "bob", "cid"]));
    recorder.respondWith({ status: 400, body: { error: "one record is malformed" } });
    expect(await dispatcher.dispatchNow()).toBe(3);
    const sent = recorder.requests.map((r) =>
      (r.body as { records: { profileId: string }[] }).records.map((m) => m.profileId),
    );
    expect(sent[0]).toEqual(["ann", "bob", "cid"]);
    expect(sent.slice(1).sort()).toEqual([["ann"], ["bob"], ["cid"]]);
    expect(await outbox()).toEqual([]);

    dispatcher.offer(await queue(["dan"]));
    // The answer quotes a credential of the endpoint's own (a debug link): the dead letter keeps
    // where it points, not the credential.
    recorder.respondWith({
      status: 422,
      body: { error: "unknown segment; see https://ops:pw-hunter2@internal.example/trace?sig=s3cret" },
    });
    expect(await dispatcher.dispatchNow()).toBe(0);
    await dispatcher.stop();
    expect(await outbox()).toEqual([
      expect.objectContaining({
        profile_id: "dan",
        state: "dead",
        attempts: 1,
        last_error: expect.stringMatching(/422.*unknown segment; see https:\/\/internal\.example\/trace\?…/),
      }),
    ]);
    expect(JSON.stringify(await outbox())).not.toMatch(/hunter2|s3cret/);
  });
});

// An HTTP dataflow's batches are its requests (batchSize records): up to maxConcurrency (4) go at
// once, each under its own deadline, so a slow endpoint is not cut off after the first few.
describe.each(engines)("the dispatcher's HTTP requests on %s", (engine) => {
  const slowRecorder = ownRecorder();
  const stores = streamingStores(engine);

  it("sends a round's requests four at once to a slow endpoint, each within the deadline", async () => {
    const created = await stores.open(`slow-${engine}`, { gold: 'loyalty.tier = "gold"' });
    const { store } = created;
    const slow = slowRecorder();
    const dataflow = await dataflowTo(created.deps, `${slow.url}/slow-${engine}`, "Slow");
    const metrics = createStreamingMetrics();
    // Each request answered after 250 ms; a send not acknowledged in 600 ms fails.
    const dispatcher = createDispatcher({ ...created.deps, metrics, pollMs: 20, sendTimeoutMs: 600 });
    const names = Array.from({ length: 1_000 }, (_, i) => `p${i}`);
    const queued = await queueAll(store, dataflow.id, names);
    slow.requests.length = 0;
    slow.respondWith({ status: 200, delayMs: 250 }, 10);
    dispatcher.offer(queued);
    expect(await dispatcher.dispatchNow()).toBe(1_000);
    await dispatcher.stop();
    expect(await metricsView(metrics)).toMatchObject({ delivered: 1_000, retried: 0, deadLettered: 0 });
    const sent = slow.requests.map((r) => (r.body as { records: { profileId: string }[] }).records);
    expect(sent.map((records) => records.length)).toEqual(Array.from({ length: 10 }, () => 100));
    expect(
      sent
        .flat()
        .map((m) => m.profileId)
        .sort(),
    ).toEqual([...names].sort());
    // The first four arrived together, not 250 ms apart.
    const arrivals = slow.requests.map((r) => r.receivedAt.getTime());
    expect((arrivals[3] as number) - (arrivals[0] as number)).toBeLessThan(200);
  });
});
