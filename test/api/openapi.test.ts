import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  accountListResponse,
  accountResponse,
  dataflowListResponse,
  dataflowResponse,
  deadLetterListResponse,
  labelResponse,
  marketingActionResponse,
  policyCheckResponse,
  policyResponse,
  runListResponse,
  runResponse,
  savedDataflowResponse,
  savedSegmentResponse,
  segmentEstimateResponse,
  segmentListResponse,
  storedSegmentResponse,
} from "../../src/api/responses.ts";
import type { Store } from "../../src/store/index.ts";
import { dataflowFor, fixtureProfile } from "../support/activation.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";
import { engines } from "../support/stores.ts";

interface Operation {
  description?: string;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { description: string; content?: Record<string, { schema: { $ref?: string } }> }>;
}

/** Each operation's real success status: what the handler answers when all goes well. */
const SUCCESS: Record<string, string> = {
  "get /healthz": "200",
  "get /v1/sandboxes": "200",
  "post /v1/sandboxes": "201",
  "get /v1/schema/fields": "200",
  "post /v1/schema/fields": "201",
  "post /v1/profiles": "200",
  "get /v1/profiles": "200",
  "post /v1/events": "200",
  "post /v1/profiles/stream": "200",
  "post /v1/events/stream": "200",
  "get /v1/segments": "200",
  "post /v1/segments": "201",
  "post /v1/segments/estimate": "200",
  "post /v1/segments/evaluate": "200",
  "get /v1/segments/{id}": "200",
  "patch /v1/segments/{id}": "200",
  "delete /v1/segments/{id}": "204",
  "post /v1/segments/{id}/evaluate": "200",
  "get /v1/segments/{id}/members": "200",
  "get /v1/segments/{id}/history": "200",
  "get /v1/destinations": "200",
  "get /v1/destinations/{id}": "200",
  "get /v1/accounts": "200",
  "post /v1/accounts": "201",
  "get /v1/accounts/{id}": "200",
  "patch /v1/accounts/{id}": "200",
  "delete /v1/accounts/{id}": "204",
  "post /v1/accounts/{id}/validate": "200",
  "get /v1/dataflows": "200",
  "post /v1/dataflows": "201",
  "get /v1/dataflows/{id}": "200",
  "put /v1/dataflows/{id}": "200",
  "delete /v1/dataflows/{id}": "204",
  "post /v1/dataflows/{id}/pause": "200",
  "post /v1/dataflows/{id}/resume": "200",
  "post /v1/dataflows/{id}/activate": "200",
  "post /v1/dataflows/{id}/runs": "202",
  "post /v1/dataflows/{id}/policy-check": "200",
  "get /v1/labels": "200",
  "post /v1/labels": "201",
  "delete /v1/labels/{name}": "204",
  "put /v1/schema/fields/{path}/labels": "200",
  "get /v1/marketing-actions": "200",
  "post /v1/marketing-actions": "201",
  "delete /v1/marketing-actions/{id}": "204",
  "get /v1/policies": "200",
  "post /v1/policies": "201",
  "get /v1/policies/{id}": "200",
  "patch /v1/policies/{id}": "200",
  "delete /v1/policies/{id}": "204",
  "get /v1/runs": "200",
  "post /v1/runs/{id}/rerun": "202",
  "get /v1/runs/{id}": "200",
  "get /v1/streaming/metrics": "200",
  "get /metrics": "200",
  "get /v1/deadletters": "200",
  "post /v1/deadletters/replay": "200",
  "post /v1/deadletters/discard": "200",
  "get /v1/consent-policies": "200",
  "post /v1/consent-policies": "201",
  "patch /v1/consent-policies/{id}": "200",
  "delete /v1/consent-policies/{id}": "204",
  "get /v1/alerts": "200",
  "post /v1/alerts": "201",
  "get /v1/alerts/{id}": "200",
  "delete /v1/alerts/{id}": "204",
  "get /v1/audit": "200",
  "get /v1/users": "200",
  "post /v1/users": "201",
  "get /v1/users/{id}": "200",
  "patch /v1/users/{id}": "200",
  "delete /v1/users/{id}": "204",
  "get /v1/roles": "200",
  "post /v1/roles": "201",
  "get /v1/roles/{id}": "200",
  "patch /v1/roles/{id}": "200",
  "delete /v1/roles/{id}": "204",
  "get /v1/users/{id}/tokens": "200",
  "post /v1/users/{id}/tokens": "201",
  "delete /v1/users/{id}/tokens/{tokenId}": "204",
  "get /v1/me": "200",
  "get /v1/keys": "200",
};

const ERROR_REF = "#/components/schemas/Error";

describe("the OpenAPI document", () => {
  let app: FastifyInstance;
  let store: Store;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  async function operations(): Promise<{ key: string; op: Operation }[]> {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    ({ app } = await apiFor(store));
    const doc = (await app.inject("/openapi.json")).json();
    expect(Object.keys(doc.components.schemas)).toContain("Error");
    expect(doc.components.schemas.Error.properties.error.required).toEqual(["code", "message"]);
    return Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([url, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ key: `${method} ${url}`, op })),
    );
  }

  it("documents each operation's real success status, described, and never a bare 'Default Response'", async () => {
    const ops = await operations();
    expect(ops.map((o) => o.key).sort()).toEqual(Object.keys(SUCCESS).sort());
    for (const { key, op } of ops) {
      const successes = Object.keys(op.responses).filter((code) => code.startsWith("2"));
      expect(successes[0], key).toBe(SUCCESS[key]);
      for (const [code, response] of Object.entries(op.responses)) {
        expect(response.description, `${key} ${code}`).not.toBe("Default Response");
        expect(response.description, `${key} ${code}`).toBeTruthy();
      }
    }
    const byKey = new Map(ops.map((o) => [o.key, o.op]));
    expect(byKey.get("delete /v1/dataflows/{id}")?.responses["204"]?.content).toBeUndefined();
    expect(byKey.get("post /v1/profiles")?.responses["207"]?.description).toMatch(/Some records/);
    // The main resources document their answer's shape.
    for (const key of [
      "get /v1/segments",
      "post /v1/segments",
      "post /v1/segments/estimate",
      "get /v1/accounts",
      "post /v1/accounts",
      "get /v1/dataflows",
      "post /v1/dataflows",
      "post /v1/dataflows/{id}/runs",
      "get /v1/runs/{id}",
      "get /v1/deadletters",
    ]) {
      const success = byKey.get(key)?.responses[SUCCESS[key] ?? ""];
      expect(success?.content?.["application/json"]?.schema, key).toHaveProperty("type", "object");
    }
  });

  it("references the one error schema for 400 and 403 everywhere, 404 with an id, 409 where refused", async () => {
    const ops = await operations();
    const errorRef = (op: Operation, code: string) =>
      op.responses[code]?.content?.["application/json"]?.schema.$ref;
    for (const { key, op } of ops) {
      expect(errorRef(op, "400"), key).toBe(ERROR_REF);
      // The store answers 503 while PostgreSQL is out of reach.
      expect(errorRef(op, "503"), key).toBe(ERROR_REF);
      if (key !== "get /healthz") expect(errorRef(op, "403"), key).toBe(ERROR_REF);
      if (key.includes("{id}")) expect(errorRef(op, "404"), key).toBe(ERROR_REF);
      if (op.requestBody) expect(errorRef(op, "413"), key).toBe(ERROR_REF);
    }
    const byKey = new Map(ops.map((o) => [o.key, o.op]));
    for (const key of ["post /v1/segments", "delete /v1/segments/{id}", "post /v1/dataflows/{id}/runs"])
      expect(errorRef(byKey.get(key) as Operation, "409"), key).toBe(ERROR_REF);
    expect(errorRef(byKey.get("post /v1/accounts") as Operation, "422")).toBe(ERROR_REF);
    expect(errorRef(byKey.get("post /v1/events/stream") as Operation, "503")).toBe(ERROR_REF);
  });

  it("documents the streamed routes' bodies as NDJSON", async () => {
    const byKey = new Map((await operations()).map((o) => [o.key, o.op]));
    for (const key of ["post /v1/profiles/stream", "post /v1/events/stream"]) {
      const content = byKey.get(key)?.requestBody?.content ?? {};
      expect(Object.keys(content), key).toEqual(["application/x-ndjson"]);
    }
  });
});

/**
 * The documented answer shapes are honest: a real answer parses to itself, field for field (zod
 * drops keys a schema lacks, so a missing field would show as a difference).
 */
describe.each(engines)("documented answers on %s", (engine) => {
  let app: FastifyInstance;
  let store: Store;
  let root = "";
  afterEach(async () => {
    await app?.close();
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  const expectDocumented = (schema: z.ZodType, answer: unknown) =>
    expect(schema.parse(answer)).toEqual(answer);

  it("match the segments, accounts, dataflows, runs and dead letters the API answers", async () => {
    ({ store } = await storeWithDefaultSchema(engine));
    const { app: server, deps } = await apiFor(store);
    app = server;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-api-openapi-"));
    const post = (url: string, payload?: unknown) =>
      app.inject({ method: "POST", url, ...(payload === undefined ? {} : { payload: payload as object }) });
    const get = async (url: string) => (await app.inject(url)).json();

    await post(
      "/v1/profiles",
      Array.from({ length: 10 }, (_, i) => fixtureProfile(i)),
    );
    const segment = await post("/v1/segments", {
      id: "french",
      name: "French",
      description: "in France",
      definition: 'homeAddress.countryCode = "FR"',
    });
    expect(segment.statusCode).toBe(201);
    expectDocumented(savedSegmentResponse, segment.json());
    await post("/v1/segments/french/evaluate");
    expectDocumented(storedSegmentResponse, await get("/v1/segments/french"));
    expectDocumented(segmentListResponse, await get("/v1/segments"));
    const estimate = await post("/v1/segments/estimate", { definition: 'homeAddress.countryCode = "FR"' });
    expectDocumented(segmentEstimateResponse, estimate.json());

    const account = await post("/v1/accounts", { destination: "local", name: "drop", connection: { root } });
    expect(account.statusCode).toBe(201);
    expectDocumented(accountResponse, account.json());
    expectDocumented(accountListResponse, await get("/v1/accounts"));

    const dataflow = await post("/v1/dataflows", dataflowFor(account.json().id, { status: "enabled" }));
    expect(dataflow.statusCode).toBe(201);
    expectDocumented(savedDataflowResponse, dataflow.json());
    expectDocumented(dataflowResponse, await get(`/v1/dataflows/${dataflow.json().id}`));
    expectDocumented(
      policyCheckResponse,
      (await post(`/v1/dataflows/${dataflow.json().id}/policy-check`)).json(),
    );
    expectDocumented(z.object({ items: z.array(policyResponse) }), await get("/v1/policies"));
    expectDocumented(z.object({ items: z.array(labelResponse) }), await get("/v1/labels"));
    expectDocumented(
      z.object({ items: z.array(marketingActionResponse) }),
      await get("/v1/marketing-actions"),
    );
    const triggered = await post(`/v1/dataflows/${dataflow.json().id}/runs`);
    expect(triggered.statusCode).toBe(202);
    expectDocumented(runListResponse, triggered.json());
    await deps.activation.idle();
    expectDocumented(dataflowListResponse, await get("/v1/dataflows"));
    const [run] = triggered.json().items as { id: string }[];
    const finished = await get(`/v1/runs/${run?.id}`);
    expect(finished.files.length).toBeGreaterThan(0);
    expectDocumented(runResponse, finished);
    expectDocumented(runListResponse, await get("/v1/runs"));
    // A message that ran out of attempts, as the dispatcher leaves it.
    await store.query(
      "prod",
      `INSERT INTO streaming_outbox (sandbox, dataflow_id, profile_id, payload, ingested_at, created_at, next_attempt_at, state, attempts, last_error, dead_at)
       VALUES ($sandbox, $1, 'ann@example.com', $2, $3, $3, $3, 'dead', 8, 'HTTP 503 from the endpoint', $3)`,
      [dataflow.json().id, JSON.stringify({ profileId: "ann@example.com" }), new Date()],
    );
    const deadLetters = await get("/v1/deadletters");
    expect(deadLetters.total).toBe(1);
    expectDocumented(deadLetterListResponse, deadLetters);
  });
});
