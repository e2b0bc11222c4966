import { parse } from "csv-parse/sync";
import { afterEach, describe, expect, it } from "vitest";
import { activationFixture, FRENCH, fixtureProfile, sandbox } from "../../test/support/activation.ts";
import { ingestProfileRecords } from "../profiles/index.ts";
import { createSegment, evaluateSegments, segmentMemberships } from "../segments/index.ts";
import { createDialect, type Store } from "../store/index.ts";
import { buildAudienceQuery } from "./audience-query.ts";
import type { Mapping } from "./mapping.ts";

const mapping: Mapping = {
  columns: [
    { source: { kind: "identity", namespace: "email" }, target: "email", mandatory: false },
    { source: { kind: "attribute", path: "homeAddress.city" }, target: "city", mandatory: false },
  ],
};

async function exportedBytes(store: Store, plan: Parameters<Store["exportPlan"]>[1]) {
  const csv = { type: "csv", delimiter: ",", quote: '"', escape: '"', header: true, nullText: "" } as const;
  const chunks: Buffer[] = [];
  for await (const chunk of store.exportPlan(sandbox, plan, csv)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function exportedRows(store: Store, plan: Parameters<Store["exportPlan"]>[1]) {
  return parse(await exportedBytes(store, plan), { columns: true }) as { email: string; city: string }[];
}

describe("an audience exported in the profiles table's own order (DuckDB)", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  async function setup() {
    const fixture = await activationFixture("duckdb");
    store = fixture.store;
    // French profiles stored after the first 200 whose ids sort before all of theirs.
    await ingestProfileRecords(
      fixture.store,
      fixture.schema,
      Array.from({ length: 20 }, (_, i) => ({ ...fixtureProfile(1000 + 2 * i), crmId: `aaa-${19 - i}` })),
    );
    await createSegment(fixture.store, sandbox, {
      id: "few",
      name: "Few",
      definition: "loyalty.points < 300",
    });
    await evaluateSegments(fixture.store, sandbox, fixture.schema, [FRENCH, "few"]);
    const query = (segmentId: string, mode: "full" | "incremental" = "full", since?: Date) =>
      buildAudienceQuery({
        schema: fixture.schema,
        dialect: fixture.store.dialect,
        mapping,
        memberships: segmentMemberships,
        segmentId,
        mode,
        ...(since ? { since } : {}),
      });
    const [slots] = await fixture.store.query<{ n: number }>(
      sandbox,
      "SELECT max(rowid) + 1 AS n FROM {profiles}",
    );
    const expected = (where: string) =>
      fixture.store.query<{ email: string; city: string }>(
        sandbox,
        `SELECT "personalEmail.address" AS email, "homeAddress.city" AS city FROM {profiles} WHERE ${where} ORDER BY rowid`,
      );
    return { store: fixture.store, schema: fixture.schema, query, rowSlots: Number(slots?.n), expected };
  }

  it("yields the members once each, slice after slice, in the table's order, not the ids'", async () => {
    const { store, query, rowSlots, expected } = await setup();
    const french = await expected(`"homeAddress.countryCode" = 'FR'`);
    expect(french).toHaveLength(120);
    const byId = await store.query<{ email: string }>(
      sandbox,
      `SELECT "personalEmail.address" AS email FROM {profiles} WHERE "homeAddress.countryCode" = 'FR' ORDER BY _id`,
    );
    expect(byId.map((r) => r.email)).not.toEqual(french.map((r) => r.email));
    for (const rowsPerSlice of [7, 1 << 20]) {
      const plan = query(FRENCH).tableOrder?.plan(rowSlots, { rowsPerSlice });
      expect(plan?.queries).toHaveLength(Math.ceil(rowSlots / rowsPerSlice));
      expect(await exportedRows(store, plan as NonNullable<typeof plan>)).toEqual(french);
    }
  });

  it("yields nothing from slices without members, and the header alone when nobody qualifies", async () => {
    const { store, query, rowSlots, expected } = await setup();
    const few = await expected(`"loyalty.points" < 300`);
    expect(few).toHaveLength(30);
    const plan = query("few").tableOrder?.plan(rowSlots, { rowsPerSlice: 4 });
    expect(await exportedRows(store, plan as NonNullable<typeof plan>)).toEqual(few);
    const none = query("few", "incremental", new Date("2999-01-01T00:00:00Z")).tableOrder?.plan(rowSlots, {
      rowsPerSlice: 4,
    });
    expect((await exportedBytes(store, none as NonNullable<typeof none>)).toString()).toBe("email,city\n");
  });

  it("reads the same memberships as the ordered query in incremental mode", async () => {
    const { store, query, rowSlots } = await setup();
    const incremental = query(FRENCH, "incremental", new Date("2000-01-01T00:00:00Z"));
    const plan = incremental.tableOrder?.plan(rowSlots, { rowsPerSlice: 16 });
    const ordered = await store.query<{ email: string; city: string }>(
      sandbox,
      incremental.sql,
      incremental.params,
    );
    const rows = await exportedRows(store, plan as NonNullable<typeof plan>);
    expect(rows).toHaveLength(120);
    expect(new Set(rows.map((r) => r.email))).toEqual(new Set(ordered.map((r) => r.email)));
  });

  it("keeps one profile per deduplication key, the latest to qualify, in one hash partition or several", async () => {
    const { store, schema, rowSlots } = await setup();
    // A French profile arriving later with profile 0's phone (which profile 2 shares too).
    const late = { ...fixtureProfile(0), crmId: "late-0", personalEmail: { address: "late@example.com" } };
    await ingestProfileRecords(store, schema, [late]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await evaluateSegments(store, sandbox, schema, [FRENCH]);
    const phone = {
      source: { kind: "identity", namespace: "phone" },
      target: "phone",
      mandatory: false,
    } as const;
    const deduplicated = buildAudienceQuery({
      schema,
      dialect: store.dialect,
      mapping: { columns: [...mapping.columns, phone], deduplicationKey: ["phone"] },
      memberships: segmentMemberships,
      segmentId: FRENCH,
      mode: "full",
    });
    const ordered = await store.query<{ email: string; phone: string }>(
      sandbox,
      deduplicated.sql,
      deduplicated.params,
    );
    const [members] = await store.query<{ n: number; phones: number }>(
      sandbox,
      `SELECT count(*) AS n, count(DISTINCT "mobilePhone.number") AS phones FROM {profiles} WHERE "homeAddress.countryCode" = 'FR'`,
    );
    expect(ordered).toHaveLength(Number(members?.phones));
    expect(ordered.map((r) => r.email)).toContain("late@example.com");
    expect(ordered.map((r) => r.email)).not.toContain("person0@example.com");
    expect(ordered.map((r) => r.email)).not.toContain("person2@example.com");
    for (const partitions of [1, 3]) {
      const plan = deduplicated.tableOrder?.plan(rowSlots, { rowsPerSlice: 16, partitions });
      expect(plan?.setup).toHaveLength(1 + partitions);
      const rows = await exportedRows(store, plan as NonNullable<typeof plan>);
      expect(new Set(rows.map((r) => r.email))).toEqual(new Set(ordered.map((r) => r.email)));
      expect(rows).toHaveLength(ordered.length);
      let duplicates = 0;
      for (let part = 0; part < partitions; part++) {
        const sql = deduplicated.deduplication?.duplicatesSql(part, partitions) ?? "";
        const [row] = await store.query<{ duplicates: number }>(sandbox, sql, deduplicated.params);
        duplicates += Number(row?.duplicates);
      }
      expect(duplicates).toBe(Number(members?.n) - Number(members?.phones));
    }
  });

  it("splits a deduplication into hash partitions sized by the engine's budget on DuckDB, none on PostgreSQL", async () => {
    const { store, schema } = await setup();
    const build = (dialect: Store["dialect"]) =>
      buildAudienceQuery({
        schema,
        dialect,
        mapping: { columns: mapping.columns, deduplicationKey: ["email"] },
        memberships: segmentMemberships,
        segmentId: FRENCH,
        mode: "full",
      }).deduplication;
    // 8 M keyed profiles a part without a known budget, as at 448MB; 56 bytes of the budget each.
    expect([0, 8_000_000, 8_000_001, 100_000_000].map((n) => build(store.dialect)?.partitions(n))).toEqual([
      1, 1, 2, 13,
    ]);
    expect(build(store.dialect)?.partitions(100_000_000, store.memoryBudget)).toBe(
      Math.ceil(100_000_000 / Math.floor((store.memoryBudget as number) / 56)),
    );
    expect(build(store.dialect)?.partitions(100_000_000, 448_000_000)).toBe(13);
    expect(build(store.dialect)?.partitions(100_000_000, 1_000_000_000)).toBe(6);
    // Never parts under 1 M profiles, whatever the budget.
    expect(build(store.dialect)?.partitions(100_000_000, 1_000_000)).toBe(100);
    expect(build(createDialect("postgres"))?.partitions(100_000_000)).toBe(1);
  });

  it("is not offered when a column reads the membership, nor on PostgreSQL", async () => {
    const { store, schema } = await setup();
    const build = (dialect: Store["dialect"], columns: Mapping["columns"]) =>
      buildAudienceQuery({
        schema,
        dialect,
        mapping: { columns },
        memberships: segmentMemberships,
        segmentId: FRENCH,
        mode: "full",
      });
    const status = { source: { kind: "membership", field: "status" }, mandatory: false } as const;
    expect(build(store.dialect, [...mapping.columns, status]).tableOrder).toBeUndefined();
    expect(build(createDialect("postgres"), mapping.columns).tableOrder).toBeUndefined();
    expect(build(store.dialect, mapping.columns).tableOrder).toBeDefined();
  });
});
