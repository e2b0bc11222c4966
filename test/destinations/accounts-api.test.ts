import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";

/** Accounts through the API, as the UI and scripts use them. */
let app: FastifyInstance;
let store: Store;
let recorder: HttpRecorder;

beforeAll(async () => {
  recorder = await startHttpRecorder();
});
afterAll(async () => {
  await recorder?.close();
});
beforeEach(async () => {
  ({ store } = await storeWithDefaultSchema("duckdb"));
  ({ app } = await apiFor(store));
  recorder.requests.length = 0;
});
afterEach(async () => {
  await app?.close();
  await store?.close();
});

const post = (url: string, payload?: object) =>
  app.inject({ method: "POST", url, ...(payload === undefined ? {} : { payload }) });

describe("accounts API: secrets in the HTTP destination's URL", () => {
  it("never returns an API key held in the URL's query, nor shows it in an error", async () => {
    const created = await post("/v1/accounts", {
      destination: "http-api",
      name: "keyed",
      connection: { url: `${recorder.url}/ingest?api_key=s3cret` },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().connection).toEqual({ url: `${recorder.url}/ingest?…` });
    const id = created.json().id as string;
    const answers = [created, await app.inject("/v1/accounts"), await app.inject(`/v1/accounts/${id}`)];
    recorder.respondWith({ status: 500 });
    const down = await post(`/v1/accounts/${id}/validate`);
    expect(down.statusCode).toBe(503);
    expect(down.json().error.message).toBe(`${recorder.url}/ingest answered 500`);
    await recorder.stop();
    const refused = await post(`/v1/accounts/${id}/validate`);
    await recorder.start();
    expect(refused.json().error.message).toContain(`Cannot reach ${recorder.url}/ingest (`);
    for (const answer of [...answers, down, refused]) expect(answer.body).not.toContain("s3cret");
    // The stored URL keeps its query: the endpoint received it with every request.
    expect(recorder.requests.map((r) => r.path)).toEqual(Array(2).fill("/ingest?api_key=s3cret"));
  });

  it("refuses a URL holding user:password@ and saves nothing", async () => {
    const refused = await post("/v1/accounts", {
      destination: "http-api",
      name: "inline",
      connection: { url: `${recorder.url.replace("//", "//alice:pw-hunter2@")}/ingest` },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.message).toContain("connection.url: must not hold a user name or password");
    expect(refused.body).not.toContain("hunter2");
    expect((await app.inject("/v1/accounts")).json().items).toEqual([]);
  });
});
