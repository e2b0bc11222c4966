import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { engines, freshStore } from "../../test/support/stores.ts";
import { isHeraldError } from "../errors/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import { migrate, type Store } from "../store/index.ts";
import {
  createSegment,
  deleteSegment,
  estimateSegment,
  evaluateSegments,
  getSegment,
  listMembers,
  listSegments,
  membersCsv,
  parseDefinition,
  parseSegment,
  recordMembership,
  segmentDirectory,
  segmentHistory,
  segmentMemberships,
  segmentMigrations,
  updateSegment,
} from "./index.ts";
import {
  insertScenario,
  prepareSandbox,
  scenarioEvents,
  scenarioNow,
  scenarioProfiles,
} from "./test-fixtures.ts";

async function failure(work: Promise<unknown>): Promise<{ kind: string; code: string; message: string }> {
  try {
    await work;
  } catch (error) {
    if (isHeraldError(error)) return { kind: error.kind, code: error.code, message: error.message };
    throw error;
  }
  throw new Error("expected a failure");
}

describe.each(engines)("segments and memberships on %s", (engine) => {
  let store: Store;
  let schema: SchemaSnapshot;
  const sandbox = "seg";

  beforeAll(async () => {
    store = await freshStore(engine);
    schema = await prepareSandbox(store, sandbox);
    await store.transaction((tx) => migrate(tx, store.engine, "segments", segmentMigrations));
    await insertScenario(store, sandbox, schema, scenarioProfiles, scenarioEvents);
  });
  afterAll(async () => {
    await store?.close();
  });

  it("creates, reads, lists, updates and deletes segments, validated on save", async () => {
    const paris = await createSegment(store, sandbox, {
      name: "Parisians",
      description: "Live in Paris",
      definition: '# home city\nhomeAddress.city = "Paris"',
    });
    expect(paris).toMatchObject({
      id: "parisians",
      name: "Parisians",
      description: "Live in Paris",
      streaming: { eligible: true },
    });
    expect(paris.definition).toBe('# home city\nhomeAddress.city = "Paris"');
    const again = await createSegment(store, sandbox, {
      name: "Parisians",
      definition: 'homeAddress.city = "Paris"',
    });
    expect(again.id).toBe("parisians-2");
    const fromAst = await createSegment(store, sandbox, {
      id: "buyers",
      name: "Buyers",
      ast: parseSegment("count(commerce.purchases) >= 1").ast,
    });
    expect(fromAst.definition).toBe("count(commerce.purchases) >= 1");
    expect(fromAst.streaming).toEqual({ eligible: false, reason: expect.stringContaining("no time window") });
    expect((await listSegments(store, sandbox)).map((s) => s.id)).toEqual([
      "buyers",
      "parisians",
      "parisians-2",
    ]);

    expect(
      await failure(
        createSegment(store, sandbox, { id: "buyers", name: "x", definition: "loyalty.points > 1" }),
      ),
    ).toMatchObject({
      kind: "conflict",
    });
    const typo = await failure(
      createSegment(store, sandbox, { name: "Old", definition: "loyalty.points > 1 and\n  person.age > 50" }),
    );
    expect(typo).toMatchObject({ kind: "validation" });
    expect(typo.message).toContain(
      "line 2, column 3: person.age is not a field; did you mean age(person.birthDate)?",
    );
    expect(
      await failure(createSegment(store, sandbox, { name: "Refs", definition: 'inSegment("nope")' })),
    ).toMatchObject({
      code: "unknown_segment",
    });
    expect(
      await failure(
        createSegment(store, sandbox, { name: "Both", definition: "a = 1", ast: parseSegment("a = 1").ast }),
      ),
    ).toMatchObject({
      kind: "validation",
    });

    const rich = await createSegment(store, sandbox, {
      id: "rich-parisians",
      name: "Rich Parisians",
      definition: 'inSegment("parisians") and loyalty.points > 100',
    });
    expect(rich.streaming).toEqual({ eligible: true });
    // parisians → rich-parisians → parisians would loop.
    const cycle = await failure(
      updateSegment(store, sandbox, "parisians", { definition: 'inSegment("rich-parisians")' }),
    );
    expect(cycle).toMatchObject({ code: "segment_cycle" });
    expect(cycle.message).toContain("parisians → rich-parisians → parisians");
    expect(
      await failure(updateSegment(store, sandbox, "parisians", { definition: 'inSegment("parisians")' })),
    ).toMatchObject({ code: "segment_cycle" });

    // The streaming path's recheck times assume the old definitions: a new one makes them unknown.
    await store.query(
      sandbox,
      `INSERT INTO segment_memberships (sandbox, segment_id, profile_id, status, changed_at, recheck_at)
       VALUES ($sandbox, 'rich-parisians', 'alice', 'realized', $1, $1)`,
      [scenarioNow],
    );
    const rechecks = () =>
      store.query(
        sandbox,
        "SELECT recheck_at FROM segment_memberships WHERE sandbox = $sandbox AND profile_id = 'alice'",
      );
    await updateSegment(store, sandbox, "parisians-2", { name: "Paris 2" });
    expect(await rechecks()).toEqual([{ recheck_at: scenarioNow }]);
    await updateSegment(store, sandbox, "parisians-2", { definition: 'homeAddress.city = "Lyon"' });
    expect(await rechecks()).toEqual([{ recheck_at: null }]);
    await store.query(sandbox, "DELETE FROM segment_memberships WHERE sandbox = $sandbox");

    const renamed = await updateSegment(store, sandbox, "parisians-2", {
      name: "Lyon",
      definition: 'homeAddress.city = "Lyon"',
      description: null,
    });
    expect(renamed).toMatchObject({ name: "Lyon", definition: 'homeAddress.city = "Lyon"' });
    expect(renamed.description).toBeUndefined();
    expect(renamed.updatedAt.getTime()).toBeGreaterThanOrEqual(renamed.createdAt.getTime());

    expect(await failure(deleteSegment(store, sandbox, "parisians"))).toMatchObject({
      code: "segment_in_use",
    });
    await deleteSegment(store, sandbox, "parisians-2");
    expect(await failure(getSegment(store, sandbox, "parisians-2"))).toMatchObject({ kind: "not_found" });
  });

  it("refuses a between whose bounds are the wrong way round on create, update and estimate", async () => {
    const inverted = "loyalty.points between 20 and 10";
    const expected = {
      kind: "validation",
      code: "invalid_segment",
      message:
        "Invalid segment definition: line 1, column 1: between 20 and 10 matches nothing: the first bound is after the second; write between 10 and 20",
    };
    expect(await failure(createSegment(store, sandbox, { name: "Inverted", definition: inverted }))).toEqual(
      expected,
    );
    const ordered = await createSegment(store, sandbox, {
      name: "Ordered",
      definition: "loyalty.points between 10 and 20",
    });
    expect(await failure(updateSegment(store, sandbox, ordered.id, { definition: inverted }))).toEqual(
      expected,
    );
    expect(
      (await failure(estimateSegment(store, sandbox, schema, parseSegment(inverted).ast))).message,
    ).toContain("condition: between 20 and 10 matches nothing");
    await deleteSegment(store, sandbox, ordered.id);
  });

  it("evaluates segments and records realized, existing and exited memberships with their times", async () => {
    await createSegment(store, sandbox, {
      id: "eur-buyers",
      name: "EUR buyers",
      definition: 'latest(commerce.purchases.currency) = "EUR"',
    });
    const ids = ["parisians", "buyers", "rich-parisians", "eur-buyers"];
    const t1 = scenarioNow;
    const first = await evaluateSegments(store, sandbox, schema, ids, t1);
    expect(first.map((e) => [e.segmentId, e.size, e.realized, e.existing, e.exited])).toEqual([
      ["parisians", 1, 1, 0, 0],
      ["buyers", 2, 2, 0, 0],
      ["rich-parisians", 1, 1, 0, 0],
      ["eur-buyers", 1, 1, 0, 0],
    ]);
    const members = await listMembers(store, sandbox, "buyers");
    expect(members).toMatchObject({
      total: 2,
      members: [
        { profileId: "alice", status: "realized" },
        { profileId: "bob", status: "realized" },
      ],
    });
    expect(members.members[0]?.changedAt.toISOString()).toBe(t1.toISOString());

    // Alice moves to Lyon; Dave buys; an hour later everything is evaluated again.
    await store.query(sandbox, `UPDATE {profiles} SET "homeAddress.city" = 'Lyon' WHERE _id = 'alice'`);
    await insertScenario(
      store,
      sandbox,
      schema,
      [],
      [
        {
          id: "e99",
          profileId: "dave",
          type: "commerce.purchases",
          ts: new Date("2026-03-15T12:30:00Z"),
          properties: { priceTotal: 10, currency: "EUR" },
        },
      ],
    );
    const t2 = new Date(t1.getTime() + 3_600_000);
    const storedBuyers = () =>
      store.query(
        sandbox,
        "SELECT profile_id, status, changed_at, run_id FROM segment_memberships WHERE sandbox = $sandbox AND segment_id = 'buyers' AND profile_id IN ('alice', 'bob') ORDER BY profile_id",
      );
    const beforeSecond = await storedBuyers();
    const second = await evaluateSegments(store, sandbox, schema, ids, t2);
    // Members that stay are not written: `existing` is how they are reported, not stored.
    expect(await storedBuyers()).toEqual(beforeSecond);
    expect(second.map((e) => [e.segmentId, e.size, e.realized, e.existing, e.exited])).toEqual([
      ["parisians", 0, 0, 0, 1],
      ["buyers", 3, 1, 2, 0],
      ["rich-parisians", 0, 0, 0, 1],
      ["eur-buyers", 2, 1, 1, 0],
    ]);
    const buyers = await listMembers(store, sandbox, "buyers");
    expect(buyers.members.map((m) => [m.profileId, m.status, m.changedAt.toISOString()])).toEqual([
      ["alice", "existing", t1.toISOString()],
      ["bob", "existing", t1.toISOString()],
      ["dave", "realized", t2.toISOString()],
    ]);
    const exits = await listMembers(store, sandbox, "parisians", { statuses: ["exited"] });
    expect(exits.members.map((m) => [m.profileId, m.status, m.changedAt.toISOString()])).toEqual([
      ["alice", "exited", t2.toISOString()],
    ]);
    // The same members streamed as CSV by the engine (herald segments members --all).
    const streamed = await membersCsv(store, sandbox, "buyers");
    expect(streamed.total).toBe(3);
    expect((await streamed.csv.toArray()).join("")).toBe(
      `profile_id,status,changed_at\n${buyers.members.map((m) => `${m.profileId},${m.status},${m.changedAt.toISOString()}\n`).join("")}`,
    );
    const streamedExits = await membersCsv(store, sandbox, "parisians", ["exited"]);
    expect((await streamedExits.csv.toArray()).join("")).toBe(
      `profile_id,status,changed_at\nalice,exited,${t2.toISOString()}\n`,
    );
    expect((await listMembers(store, sandbox, "parisians")).total).toBe(0);

    // Back to Paris: a re-entry is realized again.
    await store.query(sandbox, `UPDATE {profiles} SET "homeAddress.city" = 'Paris' WHERE _id = 'alice'`);
    const t3 = new Date(t2.getTime() + 3_600_000);
    const [third] = await evaluateSegments(store, sandbox, schema, ["parisians"], t3);
    expect(third).toMatchObject({ size: 1, realized: 1, existing: 0, exited: 0 });
    expect((await listMembers(store, sandbox, "parisians")).members).toEqual([
      { profileId: "alice", status: "realized", changedAt: t3 },
    ]);

    const history = await segmentHistory(store, sandbox, "parisians");
    expect(history.map((h) => [h.evaluatedAt.toISOString(), h.size, h.realized, h.exited])).toEqual([
      [t3.toISOString(), 1, 1, 0],
      [t2.toISOString(), 0, 0, 1],
      [t1.toISOString(), 1, 1, 0],
    ]);
    expect((await getSegment(store, sandbox, "parisians")).lastEvaluatedAt?.toISOString()).toBe(
      t3.toISOString(),
    );

    // Activation reads memberships through this FROM item.
    const rows = await store.query<{ profile_id: string; status: string }>(
      sandbox,
      `SELECT m.profile_id, m.status FROM ${segmentMemberships.sql(1)} AS m ORDER BY 1`,
      ["buyers"],
    );
    expect(rows).toEqual([
      { profile_id: "alice", status: "existing" },
      { profile_id: "bob", status: "existing" },
      { profile_id: "dave", status: "realized" },
    ]);
  });

  it("serialises concurrent evaluations of a sandbox", async () => {
    await createSegment(store, sandbox, {
      id: "gold",
      name: "Gold",
      definition: 'loyalty.tier = "gold" ignoring case',
    });
    const at = new Date("2026-03-16T00:00:00Z");
    const results = await Promise.all([
      evaluateSegments(store, sandbox, schema, ["gold"], at),
      evaluateSegments(store, sandbox, schema, ["gold"], at),
    ]);
    // Whichever runs first enters them; the other finds them already there.
    expect(results.map(([r]) => [r?.realized, r?.existing]).sort()).toEqual([
      [0, 2],
      [2, 0],
    ]);
    expect((await listMembers(store, sandbox, "gold")).members.map((m) => [m.profileId, m.status])).toEqual([
      ["alice", "existing"],
      ["dave", "existing"],
    ]);
  });

  it("gives activation the segment's name and memberships", async () => {
    const directory = segmentDirectory(store);
    expect(await directory.segmentName(sandbox, "gold")).toBe("Gold");
    expect(parseDefinition("loyalty.points > 1", schema).condition).toMatchObject({ kind: "compare" });
    expect(() => parseDefinition('loyalty.points > "1"', schema)).toThrow(
      /line 1, column 18: cannot compare an integer with a string/,
    );
  });

  it("records streaming results one profile at a time", async () => {
    const at = new Date("2026-03-17T00:00:00Z");
    await store.transaction(async (executor) => {
      const tx = { ...executor, dialect: store.dialect };
      expect(await recordMembership(tx, sandbox, "gold", "bob", true, at)).toBe("realized");
      expect(await recordMembership(tx, sandbox, "gold", "bob", true, at)).toBeUndefined();
      expect(await recordMembership(tx, sandbox, "gold", "alice", true, at)).toBeUndefined();
      expect(await recordMembership(tx, sandbox, "gold", "dave", false, at)).toBe("exited");
      expect(await recordMembership(tx, sandbox, "gold", "carol", false, at)).toBeUndefined();
    });
    expect(
      (await listMembers(store, sandbox, "gold", { statuses: ["realized", "existing", "exited"] })).members,
    ).toEqual([
      { profileId: "alice", status: "existing", changedAt: new Date("2026-03-16T00:00:00Z") },
      { profileId: "bob", status: "realized", changedAt: at },
      { profileId: "dave", status: "exited", changedAt: at },
    ]);
    // The next batch evaluation puts them back where the data says.
    const [gold] = await evaluateSegments(store, sandbox, schema, ["gold"], new Date("2026-03-18T00:00:00Z"));
    expect(gold).toMatchObject({ realized: 1, existing: 1, exited: 1, size: 2 });
  });

  it("evaluates more segments than one pass holds", async () => {
    const ids: string[] = [];
    for (let k = 0; k < 55; k++) {
      ids.push(
        (
          await createSegment(store, sandbox, {
            id: `points-${k}`,
            name: `Points ${k}`,
            definition: `loyalty.points >= ${k * 3}`,
          })
        ).id,
      );
    }
    const results = await evaluateSegments(store, sandbox, schema, ids, scenarioNow);
    // alice 120, dave 100, bob 5 points (bulk profiles are added later).
    expect(results.map((r) => r.size)).toEqual(
      ids.map((_, k) => [120, 100, 5].filter((p) => p >= k * 3).length),
    );
  });

  it("pages members with a total", async () => {
    const page = await listMembers(store, sandbox, "buyers", { limit: 2, offset: 1 });
    expect(page).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect(page.members.map((m) => m.profileId)).toEqual(["bob", "dave"]);
    expect(await failure(listMembers(store, sandbox, "buyers", { limit: 0 }))).toMatchObject({
      kind: "validation",
    });
  });

  it("estimates a draft exactly on small data and by sampling with an interval on larger data", async () => {
    const exact = await estimateSegment(
      store,
      sandbox,
      schema,
      parseSegment('homeAddress.city in ["Paris", "Lyon"]').ast,
      { now: scenarioNow },
    );
    expect(exact).toMatchObject({ estimate: 2, low: 2, high: 2, sampled: false, totalProfiles: 4 });

    const many = Array.from({ length: 3000 }, (_, i) => ({ _id: `bulk${i}`, "loyalty.points": i % 4 }));
    await insertScenario(store, sandbox, schema, many, []);
    const ast = parseSegment("loyalty.points = 1").ast;
    const truth = 750 + 0; // bulk profiles with points 1; scenario profiles have none equal to 1
    const sampled = await estimateSegment(store, sandbox, schema, ast, {
      now: scenarioNow,
      sampleSize: 1000,
    });
    expect(sampled.sampled).toBe(true);
    expect(sampled.sampleFraction).toBeGreaterThan(0.2);
    expect(sampled.sampleFraction).toBeLessThan(0.5);
    expect(sampled.low).toBeLessThanOrEqual(truth);
    expect(sampled.high).toBeGreaterThanOrEqual(truth);
    expect(sampled.high - sampled.low).toBeLessThan(300);
  });
});
