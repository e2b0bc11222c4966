import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/store/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { type S3rverServer, startS3rver } from "../servers/s3rver.ts";
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
const rename = (id: string, name: string) =>
  app.inject({ method: "PATCH", url: `/v1/accounts/${id}`, payload: { name } });

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

describe("accounts API: rename and re-validate", () => {
  let root = "";
  let s3: S3rverServer;
  beforeAll(async () => {
    s3 = await startS3rver({ buckets: ["herald-test", "herald-other"] });
  });
  afterAll(async () => {
    await s3?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("renames a local-folder account and re-validates it with the folder it was created with", async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-accounts-api-"));
    fs.mkdirSync(path.join(root, "exports"));
    const created = await post("/v1/accounts", {
      destination: "local",
      name: "drop",
      connection: { root },
      details: { folderPath: "exports" },
    });
    expect(created.statusCode).toBe(201);
    const { id, validatedAt } = created.json() as { id: string; validatedAt: string };

    const renamed = await rename(id, "  pickup  ");
    expect(renamed.json()).toMatchObject({ id, name: "pickup" });
    expect((await app.inject(`/v1/accounts/${id}`)).json().name).toBe("pickup");
    expect((await rename(id, "   ")).json().error.message).toContain("name: an account needs a name");
    expect((await rename("no-such-account", "x")).statusCode).toBe(404);

    const again = await post(`/v1/accounts/${id}/validate`);
    expect(again.statusCode).toBe(200);
    expect(again.json().validationDetails).toEqual({ folderPath: "exports" });
    expect(new Date(again.json().validatedAt).getTime()).toBeGreaterThan(new Date(validatedAt).getTime());
    // The stored folder is the one checked: gone, the account no longer validates.
    fs.rmSync(path.join(root, "exports"), { recursive: true });
    const gone = await post(`/v1/accounts/${id}/validate`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.message).toContain("folderPath 'exports'");
    // New details are checked, and kept once they pass.
    expect((await post(`/v1/accounts/${id}/validate`, { details: {} })).json().validationDetails).toEqual({});
    expect((await post(`/v1/accounts/${id}/validate`)).statusCode).toBe(200);
  });

  it("re-validates an S3 account without its bucket being given again, and keeps new details only when they pass", async () => {
    const created = await post("/v1/accounts", {
      destination: "amazon-s3",
      name: "bucket",
      connection: {
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        region: s3.region,
        endpoint: s3.endpoint,
        forcePathStyle: true,
      },
      details: { bucket: "herald-test", folderPath: "exports" },
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const again = await post(`/v1/accounts/${id}/validate`);
    expect(again.statusCode).toBe(200);
    expect(again.json().validationDetails).toEqual({ bucket: "herald-test", folderPath: "exports" });

    const missing = await post(`/v1/accounts/${id}/validate`, { details: { bucket: "no-such-bucket" } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toContain("no-such-bucket");
    expect((await app.inject(`/v1/accounts/${id}`)).json().validationDetails.bucket).toBe("herald-test");
    const moved = await post(`/v1/accounts/${id}/validate`, { details: { bucket: "herald-other" } });
    expect(moved.json().validationDetails).toEqual({ bucket: "herald-other" });
    expect((await rename(id, "other bucket")).json()).toMatchObject({
      name: "other bucket",
      validationDetails: { bucket: "herald-other" },
    });
  });
});
