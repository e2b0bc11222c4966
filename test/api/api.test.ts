import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";
import { engines } from "../support/stores.ts";

describe.each(engines)("HTTP API on %s", (engine) => {
  let app: FastifyInstance;
  let store: Store;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  async function start(maxBodyBytes = 1024 * 1024) {
    ({ store } = await storeWithDefaultSchema(engine));
    ({ app } = await apiFor(store, { maxBodyBytes }));
  }
  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: "POST", url, payload: payload as object, headers });

  it("answers /healthz and publishes the OpenAPI document and browsable docs", async () => {
    await start();
    expect((await app.inject("/healthz")).json()).toEqual({ status: "ok", engine });
    const openapi = (await app.inject("/openapi.json")).json();
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        "/v1/profiles",
        "/v1/events",
        "/v1/schema/fields",
        "/v1/sandboxes",
        "/healthz",
      ]),
    );
    expect(openapi.paths["/v1/profiles"].get.description).toBe("Requires permission: View Profiles");
    // Dead letters' payloads hold profile data.
    expect(openapi.paths["/v1/deadletters"]?.get.description).toBe(
      "Requires permission: View Destinations + View Profiles",
    );
    // Every route but the health check names the permission it checks.
    const unguarded = Object.entries(
      openapi.paths as Record<string, Record<string, { description?: string }>>,
    )
      .flatMap(([url, operations]) => Object.entries(operations).map(([method, op]) => ({ url, method, op })))
      .filter(({ op }) => !op.description?.startsWith("Requires permission: "))
      .map(({ method, url }) => `${method} ${url}`);
    expect(unguarded).toEqual(["get /healthz"]);
    expect((await app.inject("/docs/")).statusCode).toBe(200);
  });

  it("ingests profiles and events, then looks the profile up with its events", async () => {
    await start();
    const one = await post("/v1/profiles", {
      personalEmail: { address: "ann@example.com" },
      person: { name: { firstName: "Ann" } },
      mobilePhone: { number: "+1555" },
    });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ received: 1, stored: 1, rejected: 0, issues: [] });
    const events = await post("/v1/events", [
      {
        type: "commerce.purchases",
        timestamp: "2026-11-02T10:00:00Z",
        identity: { email: "ann@example.com" },
        properties: { priceTotal: 120.5 },
      },
    ]);
    expect(events.statusCode).toBe(200);
    const lookup = await app.inject("/v1/profiles?identity=phone:%2B1555");
    expect(lookup.statusCode).toBe(200);
    expect(lookup.json()).toMatchObject({
      id: "ann@example.com",
      identities: { email: "ann@example.com", phone: "+1555" },
      attributes: { person: { name: { firstName: "Ann" } } },
      events: [
        {
          type: "commerce.purchases",
          timestamp: "2026-11-02T10:00:00.000Z",
          properties: { priceTotal: 120.5 },
        },
      ],
    });
    const audit = (await app.inject("/v1/audit?resource=profiles")).json();
    expect(audit.items[0]).toMatchObject({ actor: "local-admin", action: "ingest", details: { stored: 1 } });
  });

  it("stores the good records of a batch and reports the bad ones (207), or 400 when none is good", async () => {
    await start();
    const partial = await post("/v1/profiles", [
      { personalEmail: { address: "a@example.com" } },
      { personalEmail: { address: "b@example.com" }, loyalty: { points: 1.5 } },
    ]);
    expect(partial.statusCode).toBe(207);
    expect(partial.json()).toEqual({
      received: 2,
      stored: 1,
      rejected: 1,
      issues: [{ row: 1, field: "loyalty.points", message: "loyalty.points: expected an integer, got 1.5" }],
    });
    const none = await post("/v1/profiles", { loyalty: { tier: "gold" } });
    expect(none.statusCode).toBe(400);
    expect(none.json().issues[0]).toMatchObject({ row: 0, field: "personalEmail.address" });
  });

  it("answers malformed, oversized, mistyped and unknown input with a clear 4xx", async () => {
    await start(2048);
    const malformed = await app.inject({
      method: "POST",
      url: "/v1/profiles",
      payload: '{"personalEmail": {',
      headers: { "content-type": "application/json" },
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe("invalid_json");
    const wrongType = await app.inject({
      method: "POST",
      url: "/v1/profiles",
      payload: "email,name",
      headers: { "content-type": "text/csv" },
    });
    expect(wrongType.statusCode).toBe(415);
    const tooLarge = await post("/v1/profiles", { personalEmail: { address: "x".repeat(4096) } });
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error.code).toBe("payload_too_large");
    const notObject = await post("/v1/profiles", [] as unknown[]);
    expect(notObject.statusCode).toBe(400);
    expect(notObject.json().error.code).toBe("invalid_input");
    const badIdentity = await app.inject("/v1/profiles?identity=fax:123");
    expect(badIdentity.statusCode).toBe(400);
    expect(badIdentity.json().error.message).toMatch(/unknown identity namespace 'fax'/);
    expect((await app.inject("/v1/profiles?identity=email:nobody@example.com")).statusCode).toBe(404);
    const noSandbox = await app.inject({ url: "/v1/schema/fields", headers: { "x-sandbox-name": "nope" } });
    expect(noSandbox.statusCode).toBe(404);
    expect(noSandbox.json().error.message).toBe("sandbox 'nope' does not exist");
    // A time no one means is refused by name instead of read as some date (`new Date("1")` is 2001).
    const vagueTime = await app.inject("/v1/runs?since=1");
    expect(vagueTime.statusCode).toBe(400);
    expect(vagueTime.json().error.issues).toEqual([
      { field: "since", message: expect.stringMatching(/^since: expected an ISO 8601 time/) },
    ]);
    const backwards = await app.inject("/v1/runs?since=2026-11-27&until=2026-11-01T00:00:00Z");
    expect(backwards.json().error.issues).toEqual([
      { field: "until", message: "until: must be after since" },
    ]);
    expect((await app.inject("/v1/runs?since=2026-11-01&until=2026-11-27T08:00:00%2B01:00")).statusCode).toBe(
      200,
    );
  });

  it("refuses batches over 10,000 records", async () => {
    await start(16 * 1024 * 1024);
    const batch = Array.from({ length: 10_001 }, (_, i) => ({
      personalEmail: { address: `p${i}@example.com` },
    }));
    const response = await post("/v1/profiles", batch);
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toMatch(/at most 10000 records/);
  });

  it("adds schema fields, refuses conflicting ones, and records both in the audit log", async () => {
    await start();
    // Ingestion keeps a recent copy of the schema: a field added since must be known at once.
    expect((await post("/v1/profiles", { personalEmail: { address: "early@example.com" } })).statusCode).toBe(
      200,
    );
    const created = await post("/v1/schema/fields", { path: "loyalty.memberSince", type: "date" });
    expect(created.statusCode).toBe(201);
    const duplicate = await post("/v1/schema/fields", { path: "loyalty.memberSince", type: "string" });
    expect(duplicate.statusCode).toBe(409);
    const invalid = await post("/v1/schema/fields", { path: "1bad", type: "blob" });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.issues.map((i: { field: string }) => i.field)).toEqual(["path", "type"]);
    const stored = await post("/v1/profiles", {
      personalEmail: { address: "m@example.com" },
      loyalty: { memberSince: "2020-01-31" },
    });
    expect(stored.statusCode).toBe(200);
    const audit = (await app.inject("/v1/audit?resource=schema_field")).json();
    expect(audit.items.map((e: { resourceId: string }) => e.resourceId)).toEqual(["loyalty.memberSince"]);
  });
});
