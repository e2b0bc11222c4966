import { afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../test/support/herald-store.ts";
import { engines } from "../../test/support/stores.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Store } from "../store/index.ts";
import { ingestEventRecords, ingestProfileRecords, lookupProfile, validateEvent } from "./index.ts";

describe.each(engines)("profiles on %s", (engine) => {
  let store: Store;
  let schema: SchemaSnapshot;
  afterEach(async () => store?.close());

  const ann = {
    personalEmail: { address: "ann@example.com" },
    mobilePhone: { number: "+33600000001" },
    crmId: "C-1",
    person: { name: { firstName: "Ann", lastName: "Lee" }, birthDate: "1970-02-28", gender: "female" },
    homeAddress: { city: "Paris", countryCode: "FR" },
    loyalty: { tier: "gold", points: 1200 },
    interests: ["running", "jazz"],
    signupDate: "2024-02-29T08:30:00Z",
  };

  it("upserts by primary identity: absent fields keep their value, explicit null clears", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const first = await ingestProfileRecords(store, schema, [ann]);
    expect(first).toMatchObject({ received: 1, stored: 1, rejected: 0, issues: [] });
    await ingestProfileRecords(store, schema, [
      {
        personalEmail: { address: "ann@example.com" },
        loyalty: { tier: "platinum" },
        homeAddress: { city: null },
      },
    ]);
    const profile = await lookupProfile(store, schema, { namespace: "email", value: "ann@example.com" });
    expect(profile.attributes).toEqual({
      ...ann,
      loyalty: { tier: "platinum", points: 1200 },
      homeAddress: { countryCode: "FR" },
      signupDate: new Date("2024-02-29T08:30:00Z"),
    });
  });

  it("merges duplicates within one batch in order", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    await ingestProfileRecords(store, schema, [
      { personalEmail: { address: "bo@example.com" }, loyalty: { tier: "silver", points: 5 } },
      { personalEmail: { address: "bo@example.com" }, loyalty: { tier: "gold" } },
    ]);
    const profile = await lookupProfile(store, schema, { namespace: "email", value: "bo@example.com" });
    expect(profile.attributes.loyalty).toEqual({ tier: "gold", points: 5 });
  });

  it("finds a profile by each identity namespace, with its most recent events first", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    await ingestProfileRecords(store, schema, [{ ...ann, ecid: "E-9" }]);
    const events = await ingestEventRecords(store, schema, [
      {
        type: "web.pageView",
        timestamp: "2026-11-01T09:00:00Z",
        identity: { phone: "+33600000001" },
        properties: { page: "pricing" },
      },
      {
        type: "commerce.purchases",
        timestamp: "2026-11-02T10:00:00Z",
        identity: { crmId: "C-1" },
        properties: { priceTotal: 120.5, quantity: 2 },
      },
    ]);
    expect(events).toMatchObject({ stored: 2, rejected: 0 });
    for (const [namespace, value] of [
      ["email", "ann@example.com"],
      ["phone", "+33600000001"],
      ["crmId", "C-1"],
      ["ecid", "E-9"],
    ] as const) {
      const profile = await lookupProfile(store, schema, { namespace, value });
      expect(profile.id).toBe("ann@example.com");
      expect(profile.events.map((e) => [e.type, e.properties])).toEqual([
        ["commerce.purchases", { priceTotal: 120.5, quantity: 2 }],
        ["web.pageView", { page: "pricing" }],
      ]);
    }
    await expect(
      lookupProfile(store, schema, { namespace: "email", value: "nobody@example.com" }),
    ).rejects.toThrow(/does not exist/);
  });

  it("reports each bad record with its index, field and reason, and stores the good ones", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const report = await ingestProfileRecords(store, schema, [
      { personalEmail: { address: "ok1@example.com" } },
      { person: { name: { firstName: "NoId" } } },
      { personalEmail: { address: "bad@example.com" }, loyalty: { points: "many" } },
      { personalEmail: { address: "bad2@example.com" }, person: { birthDate: "2023-02-29" } },
      { personalEmail: { address: "bad3@example.com" }, person: { name: { fristName: "Typo" } } },
      { personalEmail: { address: "ok2@example.com" }, person: { birthDate: "2024-02-29" } },
    ]);
    expect(report).toMatchObject({ received: 6, stored: 2, rejected: 4 });
    expect(report.issues).toEqual([
      { row: 1, field: "personalEmail.address", message: expect.stringMatching(/missing identity/) },
      { row: 2, field: "loyalty.points", message: 'loyalty.points: expected an integer, got "many"' },
      { row: 3, field: "person.birthDate", message: 'person.birthDate: unparseable date "2023-02-29"' },
      {
        row: 4,
        field: "person.name.fristName",
        message: expect.stringMatching(
          /unknown field 'person.name.fristName'; did you mean 'person.name.firstName'?/,
        ),
      },
    ]);
    const stored = await store.query<{ _id: string }>("prod", "SELECT _id FROM {profiles} ORDER BY _id");
    expect(stored.map((r) => r._id)).toEqual(["ok1@example.com", "ok2@example.com"]);
  });

  it("rejects events with an unknown identity or bad properties, and creates profiles for new primary ids", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const report = await ingestEventRecords(store, schema, [
      {
        type: "web.pageView",
        timestamp: "2026-11-01T09:00:00Z",
        identity: { email: "new@example.com" },
        properties: { page: "home" },
      },
      { type: "web.pageView", timestamp: "2026-11-01T09:00:00Z", identity: { phone: "+1000" } },
      { type: "commerce.purchases", timestamp: "yesterday", identity: { email: "new@example.com" } },
      {
        type: "commerce.purchases",
        timestamp: "2026-11-01T09:00:00Z",
        identity: { email: "new@example.com" },
        properties: { priceTotal: "12" },
      },
    ]);
    expect(report).toMatchObject({ received: 4, stored: 1, rejected: 3 });
    expect(report.issues.map((i) => [i.row, i.field])).toEqual([
      [1, "identity.phone"],
      [2, "timestamp"],
      [3, "properties.priceTotal"],
    ]);
    const profile = await lookupProfile(store, schema, { namespace: "email", value: "new@example.com" });
    expect(profile.events).toHaveLength(1);
  });
});

describe("validateEvent", () => {
  const schemaOf = async () => {
    const { store, schema } = await storeWithDefaultSchema("duckdb");
    await store.close();
    return schema;
  };
  const base = { type: "commerce.purchases", timestamp: "2026-11-01T09:00:00Z" };

  it("takes exactly one identity, and only the schema's properties, typed, on an object without prototype", async () => {
    const schema = await schemaOf();
    const good = validateEvent(
      schema,
      { ...base, identity: { email: "ann@example.com" }, properties: { priceTotal: 12.5, currency: null } },
      0,
    );
    if (!("write" in good)) throw new Error(JSON.stringify(good.issues));
    expect(good.write.identity).toEqual({ namespace: "email", value: "ann@example.com" });
    expect({ ...good.write.properties }).toEqual({ priceTotal: 12.5, currency: null });
    expect(Object.getPrototypeOf(good.write.properties)).toBeNull();

    const fields = (record: Record<string, unknown>) => {
      const result = validateEvent(schema, record, 3);
      return "issues" in result ? result.issues.map((i) => [i.row, i.field]) : [];
    };
    expect(fields({ ...base, identity: {} })).toEqual([[3, "identity"]]);
    expect(fields({ ...base, identity: { email: "a@x.io", crmId: "C-1" } })).toEqual([[3, "identity"]]);
    expect(fields({ ...base, identity: { email: "a@x.io" }, colour: "red" })).toEqual([[3, "colour"]]);
    // Names of Object.prototype's members are unknown properties like any other.
    const tricky = JSON.parse('{"__proto__": {"polluted": 1}, "constructor": 1, "toString": 2}');
    expect(fields({ ...base, identity: { email: "a@x.io" }, properties: tricky })).toEqual([
      [3, "properties.__proto__"],
      [3, "properties.constructor"],
      [3, "properties.toString"],
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
