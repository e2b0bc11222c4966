import { createHash, createHmac } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { migrateParts } from "../../src/api/index.ts";
import { upsertProfiles } from "../../src/profiles/index.ts";
import type { SchemaSnapshot } from "../../src/schema/index.ts";
import { compileEvaluator, parseDefinition } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import { reevaluateProfiles, type StreamingPlan } from "../../src/streaming/index.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";
import { engines } from "../support/stores.ts";

const DAY = 86_400_000;

describe.each(engines)("streaming re-evaluation in the caller's transaction on %s", (engine) => {
  let store: Store;
  let schema: SchemaSnapshot;
  afterEach(async () => {
    await store?.close();
  });

  function planWith(definition: string): StreamingPlan {
    const ast = parseDefinition(definition, schema);
    return {
      sandbox: "prod",
      segments: [
        {
          id: "gold",
          name: "Gold",
          evaluate: compileEvaluator(ast, schema),
          eventReach: new Map(),
          timeDependent: false,
        },
      ],
      dataflows: [
        {
          id: "flow-1",
          name: "Flow",
          accountId: "account-1",
          destinationId: "http",
          details: {},
          mapping: {
            columns: [
              { source: { kind: "attribute", path: "loyalty.tier" }, mandatory: false },
              { source: { kind: "identity", namespace: "email" }, mandatory: true, hash: "sha256" },
            ],
          },
          segmentIds: new Set(["gold"]),
        },
      ],
      leftOut: [],
    };
  }

  async function write(tier: string | null, now: Date, plan: StreamingPlan, fail = false) {
    return store.transaction(async (tx) => {
      const db = { ...tx, dialect: store.dialect };
      await upsertProfiles(db, schema, [
        {
          id: "Ann@Example.com",
          values: new Map<string, string | null>([
            ["personalEmail.address", "Ann@Example.com"],
            ["loyalty.tier", tier],
          ]),
        },
      ]);
      const result = await reevaluateProfiles(db, {
        sandbox: "prod",
        schema,
        plan,
        profileIds: ["Ann@Example.com"],
        now,
        ingestedAt: now,
        lookbackMs: 30 * DAY,
      });
      if (fail) throw new Error("rolled back");
      return result;
    });
  }

  const outbox = () =>
    store.queryGlobal<{ dataflow_id: string; profile_id: string; payload: string }>(
      "SELECT dataflow_id, profile_id, payload FROM streaming_outbox ORDER BY id",
    );

  it("records realized then exited with one outbox message each, and nothing when rolled back", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    await migrateParts(store);
    const plan = planWith('loyalty.tier = "gold"');
    const t1 = new Date("2026-03-01T10:00:00.000Z");

    const entered = await write("gold", t1, plan);
    expect(entered.changes).toEqual([{ segmentId: "gold", status: "realized", changedAt: t1 }]);
    // Still qualifying: no change, no message.
    expect((await write("gold", new Date(t1.getTime() + 1000), plan)).changes).toEqual([]);
    await expect(write("silver", new Date(t1.getTime() + 1500), plan, true)).rejects.toThrow("rolled back");
    const exited = await write("silver", new Date(t1.getTime() + 2000), plan);
    expect(exited.changes.map((c) => c.status)).toEqual(["exited"]);

    const rows = await outbox();
    expect(rows).toHaveLength(2);
    const [first, second] = rows.map((r) => JSON.parse(r.payload));
    expect(first).toEqual({
      // The mapping hashes the primary identity: the profile id is replaced by its pseudonym.
      profileId: createHmac("sha256", "flow-1").update("Ann@Example.com").digest("hex"),
      // Hashed as ad platforms expect: trimmed, lower-cased, hex SHA-256.
      identities: { email: createHash("sha256").update("ann@example.com").digest("hex") },
      attributes: { loyalty_tier: "gold" },
      segmentMembership: {
        herald: { gold: { status: "realized", lastQualificationTime: t1.toISOString() } },
      },
      changedAt: t1.toISOString(),
    });
    expect(second.segmentMembership.herald.gold.status).toBe("exited");
    expect(second.attributes).toEqual({ loyalty_tier: "silver" });
    const [membership] = await store.query<{ status: string }>(
      "prod",
      "SELECT status FROM segment_memberships WHERE sandbox = $sandbox AND segment_id = 'gold'",
    );
    expect(membership?.status).toBe("exited");
  });
});
