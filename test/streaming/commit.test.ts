import { describe, expect, it } from "vitest";
import { auditStatement } from "../../src/access/index.ts";
import { upsertProfiles } from "../../src/profiles/index.ts";
import { addField, loadSchema, type SchemaSnapshot } from "../../src/schema/index.ts";
import { updateSegment } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import {
  createStreamingIngest,
  createStreamingMetrics,
  type RecordsReport,
} from "../../src/streaming/index.ts";
import { createPlanCache } from "../../src/streaming/streaming-plan.ts";
import { engines } from "../support/stores.ts";
import { streamingStores } from "./harness.ts";

const T0 = new Date("2026-03-10T12:00:00.000Z").getTime();
const HOUR = 3_600_000;

// A group commit reads each profile's state before writing its events, and adds them in memory:
// the evaluation must see exactly what a read after the writes would (stored events within reach
// and the group's own), for profiles that exist, profiles the group creates, and profiles named by
// another identity.
describe.each(engines)("a group commit's evaluation on %s", (engine) => {
  const stores = streamingStores(engine);
  let store: Store;
  let schema: SchemaSnapshot;

  async function setUp(
    segments: Record<string, string> = {
      "repeat-buyers": "count(commerce.purchases within last 1 days) >= 2",
    },
  ) {
    ({ store, schema } = await stores.open("stream", segments));
    const clock = { now: T0 };
    const ingest = createStreamingIngest({
      store,
      plans: createPlanCache(),
      metrics: createStreamingMetrics(),
      now: () => new Date(clock.now),
      // Long enough for every request of a step to share one commit.
      lingerMs: 50,
    });
    return { ingest, clock };
  }

  const purchase = (identity: Record<string, string>, at: number) => ({
    type: "commerce.purchases",
    timestamp: new Date(at).toISOString(),
    identity,
    properties: { priceTotal: 10 },
  });
  const realized = async (segment = "repeat-buyers") =>
    (
      await store.query<{ profile_id: string }>(
        "prod",
        `SELECT profile_id FROM segment_memberships
          WHERE sandbox = $sandbox AND segment_id = $1 AND status = 'realized' ORDER BY profile_id`,
        [segment],
      )
    ).map((r) => r.profile_id);

  it("counts stored events within reach with the group's own, for new, existing and other-identity profiles", async () => {
    const { ingest, clock } = await setUp();
    // Ann exists with one purchase an hour ago; Bob exists with one two days ago (out of reach);
    // Cid exists, known here by his CRM id.
    await Promise.all([
      ingest.ingestProfiles(schema.sandbox, schema, [
        { personalEmail: { address: "ann@example.com" } },
        { personalEmail: { address: "bob@example.com" } },
        { personalEmail: { address: "cid@example.com" }, crmId: "CRM-7" },
      ]),
      ingest.ingestEvents(schema.sandbox, schema, [
        purchase({ email: "ann@example.com" }, T0 - HOUR),
        purchase({ email: "bob@example.com" }, T0 - 48 * HOUR),
        purchase({ crmId: "CRM-7" }, T0 - HOUR),
      ]),
    ]);
    expect(await realized()).toEqual([]);

    clock.now = T0 + 1000;
    const [first, second] = await Promise.all([
      ingest.ingestEvents(schema.sandbox, schema, [
        purchase({ email: "ann@example.com" }, T0),
        purchase({ email: "bob@example.com" }, T0),
        // Dee is new: created by this group, with two purchases in it.
        purchase({ email: "dee@example.com" }, T0),
      ]),
      ingest.ingestEvents(schema.sandbox, schema, [
        purchase({ email: "dee@example.com" }, T0 + 500),
        purchase({ crmId: "CRM-7" }, T0),
        purchase({ crmId: "CRM-404" }, T0),
      ]),
    ]);
    expect(first?.stored).toBe(3);
    expect(second?.issues).toEqual([expect.objectContaining({ row: 2, field: "identity.crmId" })]);
    expect(await realized()).toEqual(["ann@example.com", "cid@example.com", "dee@example.com"]);
    const [outbox] = await store.queryGlobal<{ n: number }>("SELECT count(*) AS n FROM streaming_outbox");
    expect(Number(outbox?.n)).toBe(3);
    await ingest.close();
  });

  it("evaluates profiles written or created, and those receiving an event a streamed segment reads, not the others", async () => {
    const { ingest } = await setUp({
      untiered: "loyalty.tier is null",
      buyers: "exists(commerce.purchases within last 7 days)",
    });
    // Ann qualifies for untiered, stored without the streaming path: nothing evaluated her yet.
    await upsertProfiles({ ...store, dialect: store.dialect }, schema, [
      { id: "ann@example.com", values: new Map([["personalEmail.address", "ann@example.com"]]) },
    ]);
    const pageView = (email: string) => ({
      type: "web.pageView",
      timestamp: new Date(T0).toISOString(),
      identity: { email },
      properties: { page: "home" },
    });
    // A page view, which no streamed segment reads, changes nothing of hers; Dee's creates Dee.
    await ingest.ingestEvents(schema.sandbox, schema, [
      pageView("ann@example.com"),
      pageView("dee@example.com"),
    ]);
    expect(await realized("untiered")).toEqual(["dee@example.com"]);
    // A purchase is read by "buyers": Ann is evaluated, against every streamed segment.
    await ingest.ingestEvents(schema.sandbox, schema, [purchase({ email: "ann@example.com" }, T0)]);
    expect(await realized("untiered")).toEqual(["ann@example.com", "dee@example.com"]);
    expect(await realized("buyers")).toEqual(["ann@example.com"]);
    await ingest.close();
  });

  it("goes on after fields were added to profiles and events between commits (its statements stay prepared)", async () => {
    const { ingest, clock } = await setUp();
    await ingest.ingestEvents(schema.sandbox, schema, [purchase({ email: "ann@example.com" }, T0)]);
    await addField(store, "prod", { entity: "profile", path: "vipSince", type: "date" });
    await addField(store, "prod", { entity: "event", path: "coupon", type: "string" });
    // A request validated against the schema before the change, then one after it.
    await ingest.ingestEvents(schema.sandbox, schema, [purchase({ email: "bob@example.com" }, T0)]);
    const grown = await loadSchema(store, "prod");
    clock.now = T0 + 1000;
    const report = await ingest.ingestEvents(grown.sandbox, grown, [
      { ...purchase({ email: "ann@example.com" }, T0 + 1000), properties: { priceTotal: 5, coupon: "X" } },
    ]);
    expect(report.stored).toBe(1);
    expect(await realized()).toEqual(["ann@example.com"]);
    await ingest.close();
  });

  it("evaluates with the segments as they are now, after one changed between commits", async () => {
    const { ingest, clock } = await setUp({ buyers: "exists(commerce.purchases within last 7 days)" });
    await ingest.ingestEvents(schema.sandbox, schema, [purchase({ email: "ann@example.com" }, T0)]);
    expect(await realized("buyers")).toEqual(["ann@example.com"]);
    // The plan cached by that commit no longer holds: with it Ann would stay a member.
    await updateSegment(store, "prod", "buyers", {
      definition: "count(commerce.purchases within last 7 days) >= 3",
    });
    clock.now = T0 + 1000;
    await ingest.ingestEvents(schema.sandbox, schema, [purchase({ email: "ann@example.com" }, T0 + 1000)]);
    expect(await realized("buyers")).toEqual([]);
    clock.now = T0 + 2000;
    await ingest.ingestEvents(schema.sandbox, schema, [purchase({ email: "ann@example.com" }, T0 + 2000)]);
    expect(await realized("buyers")).toEqual(["ann@example.com"]);
    await ingest.close();
  });

  it.each([
    ["with streamed segments", { buyers: "exists(commerce.purchases within last 7 days)" }, undefined],
    // Edited after its dataflow was saved to a window longer than the streaming look-back: evaluated
    // in batch, so nothing is streamed (a dataflow is refused such a segment when saved).
    [
      "without any",
      { "long-window": "exists(commerce.purchases within last 7 days)" },
      "exists(commerce.purchases within last 90 days)",
    ],
  ])(
    "commits each request's own statement (its audit entry) with its records, given what they came to, %s",
    async (_, segments, batchOnly) => {
      const { ingest } = await setUp(segments);
      if (batchOnly) await updateSegment(store, "prod", "long-window", { definition: batchOnly });
      const audited = (actor: string) => (report: RecordsReport) =>
        report.stored > 0
          ? auditStatement({
              actor,
              action: "ingest",
              resource: "events",
              details: { ...report },
            })
          : undefined;
      await ingest.ingestProfiles(schema.sandbox, schema, [
        { personalEmail: { address: "cid@example.com" }, crmId: "CRM-7" },
      ]);
      // One group: a good request, one with a bad record and one rejected while writing (no profile
      // has CRM-404), one with nothing stored.
      await Promise.all([
        ingest.ingestEvents(
          schema.sandbox,
          schema,
          [purchase({ email: "ann@example.com" }, T0), purchase({ email: "bob@example.com" }, T0)],
          0,
          audited("good"),
        ),
        ingest.ingestEvents(
          schema.sandbox,
          schema,
          [
            purchase({ crmId: "CRM-7" }, T0),
            { type: "commerce.purchases", timestamp: "yesterday", identity: { email: "ann@example.com" } },
            purchase({ crmId: "CRM-404" }, T0),
          ],
          0,
          audited("mixed"),
        ),
        ingest.ingestEvents(schema.sandbox, schema, [{ type: "commerce.purchases" }], 0, audited("none")),
      ]);
      const entries = await store.queryGlobal<{ actor: string; details: string }>(
        "SELECT actor, details FROM audit_log WHERE sandbox = 'prod' ORDER BY actor",
      );
      expect(entries.map((e) => [e.actor, JSON.parse(e.details)])).toEqual([
        ["good", { received: 2, stored: 2, rejected: 0, issues: [] }],
        [
          "mixed",
          {
            received: 3,
            stored: 1,
            rejected: 2,
            issues: [
              expect.objectContaining({ row: 1, field: "timestamp" }),
              expect.objectContaining({ row: 2, field: "identity.crmId" }),
            ],
          },
        ],
      ]);
      await ingest.close();
    },
  );
});
