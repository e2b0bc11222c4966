import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { ingestFile } from "../../src/profiles/index.ts";
import { loadSchema } from "../../src/schema/index.ts";
import { DEFAULT_SANDBOX, type Store } from "../../src/store/index.ts";
import { dataflowFor, FRENCH } from "../support/activation.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";
import { engines } from "../support/stores.ts";

describe.each(engines)("segments API on %s", (engine) => {
  let app: FastifyInstance;
  let store: Store;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  async function start() {
    ({ store } = await storeWithDefaultSchema(engine));
    ({ app } = await apiFor(store));
    const people = [
      ["ann@example.com", "FR", "gold"],
      ["bob@example.com", "FR", "silver"],
      ["cid@example.com", "DE", "gold"],
    ].map(([address, countryCode, tier]) => ({
      personalEmail: { address },
      homeAddress: { countryCode },
      loyalty: { tier },
    }));
    expect((await post("/v1/profiles", people)).json()).toMatchObject({ stored: 3, rejected: 0 });
  }
  const post = (url: string, payload?: unknown) =>
    app.inject({ method: "POST", url, ...(payload === undefined ? {} : { payload: payload as object }) });

  it("creates, evaluates and pages a segment's members, and keeps its history", async () => {
    await start();
    const created = await post("/v1/segments", {
      id: "french-gold",
      name: "French gold members",
      definition: 'homeAddress.countryCode = "FR" and loyalty.tier = "gold"',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: "french-gold", streaming: { eligible: true } });

    const evaluation = await post("/v1/segments/french-gold/evaluate");
    expect(evaluation.statusCode).toBe(200);
    expect(evaluation.json()).toMatchObject({ segmentId: "french-gold", size: 1, realized: 1, exited: 0 });

    const members = (await app.inject("/v1/segments/french-gold/members?limit=10")).json();
    expect(members.total).toBe(1);
    expect(members.members).toHaveLength(1);
    expect(members.members[0].status).toBe("realized");

    // Bob becomes gold: the next evaluation realizes him and keeps Ann as existing.
    await post("/v1/profiles", { personalEmail: { address: "bob@example.com" }, loyalty: { tier: "gold" } });
    expect((await post("/v1/segments/evaluate")).json().items).toEqual([
      expect.objectContaining({ segmentId: "french-gold", size: 2, realized: 1, existing: 1, exited: 0 }),
    ]);
    const history = (await app.inject("/v1/segments/french-gold/history")).json().items;
    expect(history.map((h: { size: number }) => h.size)).toEqual([2, 1]);
  });

  it("estimates a draft without saving it", async () => {
    await start();
    const estimate = await post("/v1/segments/estimate", { definition: 'loyalty.tier = "gold"' });
    expect(estimate.statusCode).toBe(200);
    expect(estimate.json()).toMatchObject({ estimate: 2, low: 2, high: 2, sampled: false, totalProfiles: 3 });
    expect((await app.inject("/v1/segments")).json().items).toEqual([]);
  });

  it("estimates as of `at`, as `herald segments estimate --at` does, and refuses a bad time or an unknown key by name", async () => {
    await start();
    await post("/v1/events", {
      type: "commerce.purchases",
      timestamp: "2026-06-20T10:00:00Z",
      identity: { email: "ann@example.com" },
    });
    const definition = "count(commerce.purchases within last 30 days) > 0";
    const estimateAt = async (at?: string) => {
      const answer = await post("/v1/segments/estimate", { definition, ...(at ? { at } : {}) });
      expect(answer.statusCode, at).toBe(200);
      return answer.json().estimate;
    };
    expect(await estimateAt("2026-06-30T12:00:00Z")).toBe(1);
    // The same instant with another offset; and a time the purchase is more than 30 days before.
    expect(await estimateAt("2026-06-30T14:00:00+02:00")).toBe(1);
    expect(await estimateAt("2026-08-01T00:00:00Z")).toBe(0);
    expect(await estimateAt("2026-06-19T00:00:00Z")).toBe(0);
    if (Date.now() > Date.parse("2026-07-21T00:00:00Z")) expect(await estimateAt()).toBe(0);

    for (const at of ["yesterday", "2026-06-30T12:00:00", "2026-06-30"]) {
      const refused = await post("/v1/segments/estimate", { definition, at });
      expect(refused.statusCode, at).toBe(400);
      expect(refused.json().error.issues, at).toEqual([expect.objectContaining({ field: "at" })]);
    }
    const misspelt = await post("/v1/segments/estimate", { definition, asOf: "2026-06-30T12:00:00Z" });
    expect(misspelt.statusCode).toBe(400);
    expect(misspelt.json().error.message).toContain('"asOf"');
    const unknownOnCreate = await post("/v1/segments", { name: "Gold", definition, tier: "gold" });
    expect(unknownOnCreate.statusCode).toBe(400);
    expect(unknownOnCreate.json().error.message).toContain('"tier"');
    expect((await app.inject("/v1/segments")).json().items).toEqual([]);
  });

  const PURCHASE_TYPO =
    "commerce.purchase: no event of this type has been stored in this sandbox; did you mean commerce.purchases?";
  const purchasedOnce = (type: string) => `count(${type} within last 30 days) > 0`;

  it("saves a segment reading an event type never stored, with a warning naming the closest stored one", async () => {
    await start();
    // No event stored yet: nothing to compare with, no warning.
    const early = await post("/v1/segments", {
      id: "early",
      name: "Early",
      definition: purchasedOnce("commerce.purchase"),
    });
    expect(early.statusCode).toBe(201);
    expect(early.json().warnings).toEqual([]);

    const purchase = {
      type: "commerce.purchases",
      timestamp: new Date().toISOString(),
      properties: { priceTotal: 30 },
    };
    const stored = await post("/v1/events", [{ ...purchase, identity: { email: "ann@example.com" } }]);
    expect(stored.json()).toMatchObject({ stored: 1, rejected: 0 });

    const typo = await post("/v1/segments", {
      id: "buyers",
      name: "Buyers",
      definition: purchasedOnce("commerce.purchase"),
    });
    expect(typo.statusCode).toBe(201);
    expect(typo.json()).toMatchObject({ id: "buyers", warnings: [PURCHASE_TYPO] });
    expect((await app.inject("/v1/segments/buyers")).statusCode).toBe(200);
    const estimate = await post("/v1/segments/estimate", { definition: purchasedOnce("commerce.purchase") });
    expect(estimate.json()).toMatchObject({ estimate: 0, warnings: [PURCHASE_TYPO] });

    const fixed = await app.inject({
      method: "PATCH",
      url: "/v1/segments/buyers",
      payload: { definition: purchasedOnce("commerce.purchases") },
    });
    expect(fixed.statusCode).toBe(200);
    expect(fixed.json().warnings).toEqual([]);
    const right = await post("/v1/segments/estimate", { definition: purchasedOnce("commerce.purchases") });
    expect(right.json()).toMatchObject({ estimate: 1, warnings: [] });
  });

  it("drops the warning on the next save once the type is stored, and reads only the segment's own selectors", async () => {
    await start();
    const at = new Date().toISOString();
    await post("/v1/events", {
      type: "commerce.purchases",
      timestamp: at,
      identity: { email: "ann@example.com" },
    });
    // Every kind of selector: aggregates, exists, latest, sequence steps; inSegment's are the other segment's.
    const definition = [
      "exists(web.pageView within last 7 days)",
      'latest(web.pageView.page) = "pricing"',
      "web.pageView then commerce.purchases within 7 days",
      "sum(commerce.purchases.priceTotal) > 10",
    ].join(" and ");
    const created = await post("/v1/segments", { id: "viewers", name: "Viewers", definition });
    expect(created.json().warnings).toEqual([
      "web.pageView: no event of this type has been stored in this sandbox",
    ]);
    const referring = await post("/v1/segments", {
      name: "Referring",
      definition: 'inSegment("viewers") and loyalty.tier = "gold"',
    });
    expect(referring.json().warnings).toEqual([]);

    await post("/v1/events", { type: "web.pageView", timestamp: at, identity: { email: "bob@example.com" } });
    const renamed = await app.inject({
      method: "PATCH",
      url: "/v1/segments/viewers",
      payload: { name: "Viewers!" },
    });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().warnings).toEqual([]);
  });

  it("compares with the event types a file load stored", async () => {
    await start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-segment-types-"));
    try {
      const file = path.join(dir, "events.csv");
      fs.writeFileSync(
        file,
        `type,timestamp,identity.email,priceTotal\ncommerce.purchases,${new Date().toISOString()},cid@example.com,12.5\n`,
      );
      // On DuckDB a CSV file takes the bulk path.
      const schema = await loadSchema(store, DEFAULT_SANDBOX);
      expect(await ingestFile(store, schema, { path: file, kind: "events" })).toMatchObject({ stored: 1 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const typo = await post("/v1/segments", {
      name: "Buyers",
      definition: purchasedOnce("commerce.purchase"),
    });
    expect(typo.json().warnings).toEqual([PURCHASE_TYPO]);
    const right = await post("/v1/segments", {
      name: "Buyers 2",
      definition: purchasedOnce("commerce.purchases"),
    });
    expect(right.json().warnings).toEqual([]);
  });

  it("rejects an invalid definition with the line, column and a suggestion", async () => {
    await start();
    const response = await post("/v1/segments", { name: "Old", definition: "person.age > 50" });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toMatch(/line 1, column 1.*person\.birthDate/s);
  });

  it("answers 404 for an unknown segment's members and refuses both text and AST", async () => {
    await start();
    expect((await app.inject("/v1/segments/nope/members")).statusCode).toBe(404);
    const { ast } = (await post("/v1/segments", { name: "Points", definition: "loyalty.points > 1" })).json();
    const both = await post("/v1/segments", { name: "x", definition: "loyalty.points > 1", ast });
    expect(both.statusCode).toBe(400);
    expect(both.json().error.message).toMatch(/exactly one of definition/);
  });

  it("refuses a text definition beyond the AST's limits, naming its position and part", async () => {
    await start();
    const cities = Array.from({ length: 1001 }, (_, i) => `"City ${i}"`).join(", ");
    const response = await post("/v1/segments", {
      name: "Cities",
      definition: `homeAddress.city in [${cities}]`,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.issues).toEqual([
      {
        field: "definition",
        message: "line 1, column 1: condition.values: Too big: expected array to have <=1000 items",
      },
    ]);
    const list = await app.inject("/v1/segments");
    expect(list.statusCode).toBe(200);
    expect(list.json().items).toEqual([]);
  });

  it("lists a stored segment whose AST no longer validates, skips it in evaluation and deletes it", async () => {
    await start();
    await post("/v1/segments", { id: "gold", name: "Gold", definition: 'loyalty.tier = "gold"' });
    // As saved before text was held to the AST schema: 1,001 values; and a segment referring to it.
    const values = Array.from({ length: 1001 }, (_, i) => ({ type: "string", value: `City ${i}` }));
    const tooLong = {
      kind: "in",
      operand: { kind: "field", path: "homeAddress.city" },
      values,
      negated: false,
    };
    const insert = (id: string, condition: object) =>
      store.query(
        DEFAULT_SANDBOX,
        `INSERT INTO segments (sandbox, id, name, description, definition, ast, created_at, updated_at)
         VALUES ($sandbox, $1, $2, NULL, '(as stored)', $3, $4, $4)`,
        [id, `Cities ${id}`, JSON.stringify({ version: 1, condition }), new Date()],
      );
    await insert("cities", tooLong);
    await insert("cities-ref", { kind: "inSegment", segment: "cities" });

    const list = await app.inject("/v1/segments");
    expect(list.statusCode).toBe(200);
    expect(list.json().items).toEqual([
      expect.objectContaining({
        id: "cities",
        invalid: "ast.condition.values: Too big: expected array to have <=1000 items",
      }),
      expect.objectContaining({
        id: "cities-ref",
        invalid: 'inSegment("cities") refers to a segment that cannot be evaluated',
      }),
      expect.objectContaining({ id: "gold", ast: expect.any(Object) }),
    ]);
    expect((await app.inject("/v1/segments/cities")).json()).toMatchObject({ id: "cities" });

    const all = await post("/v1/segments/evaluate");
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual({
      items: [expect.objectContaining({ segmentId: "gold", size: 2 })],
      skipped: [
        { segmentId: "cities", invalid: expect.stringContaining("ast.condition.values") },
        { segmentId: "cities-ref", invalid: expect.stringContaining('inSegment("cities")') },
      ],
    });
    const one = await post("/v1/segments/cities/evaluate");
    expect(one.statusCode).toBe(409);
    expect(one.json().error.message).toContain("Segment 'cities' cannot be evaluated");

    const remove = (id: string) => app.inject({ method: "DELETE", url: `/v1/segments/${id}` });
    expect((await remove("cities")).statusCode).toBe(409); // cities-ref refers to it
    expect((await remove("cities-ref")).statusCode).toBe(204);
    expect((await remove("cities")).statusCode).toBe(204);
    expect((await app.inject("/v1/segments")).json().items.map((s: { id: string }) => s.id)).toEqual([
      "gold",
    ]);
  });

  it("refuses to delete a segment a dataflow exports, naming the dataflow", async () => {
    await start();
    await post("/v1/segments", { id: FRENCH, name: "French", definition: 'homeAddress.countryCode = "FR"' });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-segments-"));
    try {
      const account = await post("/v1/accounts", {
        destination: "local",
        name: "drop",
        connection: { root },
      });
      const dataflow = await post("/v1/dataflows", { ...dataflowFor(account.json().id), status: "draft" });
      expect(dataflow.statusCode).toBe(201);

      const refused = await app.inject({ method: "DELETE", url: `/v1/segments/${FRENCH}` });
      expect(refused.statusCode).toBe(409);
      expect(refused.json().error.message).toContain("dataflow 'French customers to the agency'");
      expect((await app.inject(`/v1/segments/${FRENCH}`)).statusCode).toBe(200);

      await app.inject({ method: "DELETE", url: `/v1/dataflows/${dataflow.json().id}` });
      expect((await app.inject({ method: "DELETE", url: `/v1/segments/${FRENCH}` })).statusCode).toBe(204);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("deletes a segment", async () => {
    await start();
    await post("/v1/segments", { id: "gold", name: "Gold", definition: 'loyalty.tier = "gold"' });
    expect((await app.inject({ method: "DELETE", url: "/v1/segments/gold" })).statusCode).toBe(204);
    expect((await app.inject("/v1/segments/gold")).statusCode).toBe(404);
  });
});
