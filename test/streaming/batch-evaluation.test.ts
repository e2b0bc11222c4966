import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ingestFile } from "../../src/profiles/files/index.ts";
import type { SchemaSnapshot } from "../../src/schema/index.ts";
import { createSegment, evaluateAndNotify, listenToRecordedChanges } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import { batchChangesToOutbox, createStreamingService } from "../../src/streaming/index.ts";
import { createPlanCache } from "../../src/streaming/streaming-plan.ts";
import { engines } from "../support/stores.ts";
import { eventually, streamingStores } from "./harness.ts";

const T0 = new Date("2026-03-10T12:00:00.000Z");
const at = (hours: number) => new Date(T0.getTime() + hours * 3_600_000);

/** Loads profiles the bulk way (`herald ingest`): no streaming commit, no outbox. */
async function loadProfiles(store: Store, schema: SchemaSnapshot, rows: [email: string, tier: string][]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-batch-"));
  const file = path.join(dir, "profiles.csv");
  fs.writeFileSync(file, `personalEmail.address,loyalty.tier\n${rows.map((r) => r.join(",")).join("\n")}\n`);
  const report = await ingestFile(store, schema, { path: file, kind: "profiles" });
  fs.rmSync(dir, { recursive: true, force: true });
  expect(report.rejected).toBe(0);
}

const outboxRows = async (store: Store) =>
  Number((await store.queryGlobal<{ n: number }>("SELECT count(*) AS n FROM streaming_outbox"))[0]?.n);

const membersOf = async (store: Store, segmentId: string) =>
  store.query<{ profile_id: string; status: string }>(
    "prod",
    "SELECT profile_id, status FROM segment_memberships WHERE sandbox = $sandbox AND segment_id = $1 ORDER BY profile_id",
    [segmentId],
  );

describe.each(engines)("the batch evaluation's changes of streamed segments on %s", (engine) => {
  const stores = streamingStores(engine);

  it("reach the destination once each, after a file load: realized, nothing again, then exited", async () => {
    const { store, schema, deps } = await stores.open("batch", { gold: 'loyalty.tier = "gold"' });
    // A segment no dataflow streams, evaluated in the same pass: its changes go nowhere.
    await createSegment(store, "prod", {
      id: "silver",
      name: "Silver",
      definition: 'loyalty.tier = "silver"',
    });
    const clock = { now: T0 };
    const streaming = createStreamingService(deps, {
      logger: pino({ level: "silent" }),
      now: () => clock.now,
      pollMs: 20,
    });
    listenToRecordedChanges(store, streaming.batchChanges);
    streaming.start();
    try {
      const received = () => stores.received("batch");
      // Dan enters through the real-time path: the batch evaluation finds him a member already.
      await streaming.ingest.ingestProfiles("prod", schema, [
        { personalEmail: { address: "dan@example.com" }, loyalty: { tier: "gold" } },
      ]);
      await eventually(
        async () => received().length,
        (n) => n === 1,
      );
      await loadProfiles(store, schema, [
        ["ann@example.com", "gold"],
        ["bob@example.com", "gold"],
        ["cid@example.com", "silver"],
      ]);

      const [gold, silver] = await evaluateAndNotify(store, "prod", ["gold", "silver"], { now: at(1) });
      expect([gold?.realized, gold?.existing, silver?.realized]).toEqual([2, 1, 1]);
      await eventually(
        async () => received().length,
        (n) => n >= 3,
      );
      await eventually(
        () => outboxRows(store),
        (n) => n === 0,
      );
      const realized = (email: string) => ({
        profileId: email,
        identities: { email },
        attributes: {},
        segmentMembership: {
          herald: { gold: { status: "realized", lastQualificationTime: at(1).toISOString() } },
        },
        changedAt: at(1).toISOString(),
      });
      expect(received().slice(1)).toEqual([realized("ann@example.com"), realized("bob@example.com")]);

      // Nothing changed: nothing queued, nothing sent.
      await evaluateAndNotify(store, "prod", ["gold", "silver"], { now: at(2) });
      expect(await outboxRows(store)).toBe(0);

      // A bulk change disqualifies Bob (and Dan, a member through the real-time path).
      await loadProfiles(store, schema, [
        ["bob@example.com", "silver"],
        ["dan@example.com", "bronze"],
      ]);
      const [again] = await evaluateAndNotify(store, "prod", ["gold", "silver"], { now: at(3) });
      expect([again?.exited, again?.existing]).toEqual([2, 1]);
      await eventually(
        async () => received().length,
        (n) => n >= 5,
      );
      await eventually(
        () => outboxRows(store),
        (n) => n === 0,
      );
      expect(
        received()
          .slice(3)
          .map((r) => [r.profileId, r.segmentMembership.herald.gold, r.attributes]),
      ).toEqual([
        ["bob@example.com", { status: "exited", lastQualificationTime: at(3).toISOString() }, {}],
        ["dan@example.com", { status: "exited", lastQualificationTime: at(3).toISOString() }, {}],
      ]);
      expect(received()).toHaveLength(5);
    } finally {
      await streaming.stop();
    }
  });

  it("commit with the memberships: an evaluation that fails leaves neither, the next one sends them", async () => {
    const { store, schema, deps } = await stores.open("batch-atomic", {
      gold: 'loyalty.tier = "gold"',
      big: 'loyalty.tier in ["gold", "platinum"]',
    });
    const plans = createPlanCache();
    // One profile per page: each page's messages written before the next is read.
    const queue = batchChangesToOutbox(plans, { profilesPerPage: 1 });
    let written = -1;
    listenToRecordedChanges(store, {
      probeSql: queue.probeSql,
      async recorded(db, changes) {
        await queue.recorded(db, changes);
        const [row] = await db.queryGlobal<{ n: number }>("SELECT count(*) AS n FROM streaming_outbox");
        written = Number(row?.n);
        throw new Error("the process died before the commit");
      },
    });
    await loadProfiles(store, schema, [
      ["ann@example.com", "gold"],
      ["bob@example.com", "platinum"],
      ["cid@example.com", "silver"],
    ]);
    await expect(evaluateAndNotify(store, "prod", ["gold", "big"], { now: at(1) })).rejects.toThrow(
      "the process died",
    );
    expect(written).toBe(2);
    expect(await outboxRows(store)).toBe(0);
    expect([await membersOf(store, "gold"), await membersOf(store, "big")]).toEqual([[], []]);

    listenToRecordedChanges(store, queue);
    await evaluateAndNotify(store, "prod", ["gold", "big"], { now: at(1) });
    const payloads = await store.query<{ profile_id: string; payload: string }>(
      "prod",
      "SELECT profile_id, payload FROM streaming_outbox WHERE sandbox = $sandbox ORDER BY id",
    );
    // One message per profile, with every streamed segment it entered.
    expect(payloads.map((p) => [p.profile_id, JSON.parse(p.payload).segmentMembership.herald])).toEqual([
      [
        "ann@example.com",
        {
          big: { status: "realized", lastQualificationTime: at(1).toISOString() },
          gold: { status: "realized", lastQualificationTime: at(1).toISOString() },
        },
      ],
      ["bob@example.com", { big: { status: "realized", lastQualificationTime: at(1).toISOString() } }],
    ]);
    const streaming = createStreamingService(deps, { logger: pino({ level: "silent" }), pollMs: 20 });
    streaming.start();
    try {
      await eventually(
        async () => stores.received("batch-atomic").length,
        (n) => n === 2,
      );
    } finally {
      await streaming.stop();
    }
  });
});
