import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.ts";
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

  it("deletes a segment", async () => {
    await start();
    await post("/v1/segments", { id: "gold", name: "Gold", definition: 'loyalty.tier = "gold"' });
    expect((await app.inject({ method: "DELETE", url: "/v1/segments/gold" })).statusCode).toBe(204);
    expect((await app.inject("/v1/segments/gold")).statusCode).toBe(404);
  });
});
