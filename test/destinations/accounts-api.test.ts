import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openAccountConnection } from "../../src/destinations/index.ts";
import { DEFAULT_SANDBOX, type Store } from "../../src/store/index.ts";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { type S3rverServer, startS3rver } from "../servers/s3rver.ts";
import { type SshServer, startSshd } from "../servers/sshd.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";
import { engines } from "../support/stores.ts";

/** Accounts through the API, as the UI and scripts use them. */
let app: FastifyInstance;
let apiDeps: Awaited<ReturnType<typeof apiFor>>["deps"];
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
  ({ app, deps: apiDeps } = await apiFor(store));
  recorder.requests.length = 0;
});
afterEach(async () => {
  await app?.close();
  await store?.close();
});

const post = (url: string, payload?: object) =>
  app.inject({ method: "POST", url, ...(payload === undefined ? {} : { payload }) });
const patch = (id: string, payload: object, on = app) =>
  on.inject({ method: "PATCH", url: `/v1/accounts/${id}`, payload });
const rename = (id: string, name: string) => patch(id, { name });

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

describe("accounts API: created with a rate, and accounts saved before a field was redacted", () => {
  it("takes an HTTP account's rate at creation, refuses one for a file destination naming the field and saves nothing", async () => {
    const created = await post("/v1/accounts", {
      destination: "http-api",
      name: "paced",
      connection: { url: `${recorder.url}/ingest` },
      recordsPerSecond: 400,
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().recordsPerSecond).toBe(400);
    const { id } = created.json() as { id: string };
    expect((await openAccountConnection(apiDeps, DEFAULT_SANDBOX, id)).recordsPerSecond).toBe(400);
    const audit = (await app.inject("/v1/audit?resource=account")).json().items as { details: unknown }[];
    expect(audit[0]?.details).toMatchObject({ name: "paced", recordsPerSecond: 400 });

    const bad = await post("/v1/accounts", {
      destination: "http-api",
      name: "bad",
      connection: { url: `${recorder.url}/ingest` },
      recordsPerSecond: 0,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.issues[0].field).toBe("recordsPerSecond");
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-accounts-rate-"));
    try {
      const refused = await post("/v1/accounts", {
        destination: "local",
        name: "drop",
        connection: { root },
        recordsPerSecond: 100,
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toMatchObject({
        message: expect.stringContaining("recordsPerSecond: Local folder receives files on a schedule"),
        issues: [expect.objectContaining({ field: "recordsPerSecond" })],
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
    expect((await app.inject("/v1/accounts")).json().items.map((a: { name: string }) => a.name)).toEqual([
      "paced",
    ]);
  });

  it("shows a URL stored in clear before its query was redacted without the query", async () => {
    const created = await post("/v1/accounts", {
      destination: "http-api",
      name: "old",
      connection: { url: `${recorder.url}/ingest` },
    });
    const { id } = created.json() as { id: string };
    // As an account saved before URLs were redacted: the full URL among the public fields.
    await store.query(
      DEFAULT_SANDBOX,
      "UPDATE accounts SET connection_public = $1 WHERE sandbox = $sandbox AND id = $2",
      [JSON.stringify({ url: `${recorder.url}/ingest?api_key=s3cret` }), id],
    );
    for (const answer of [await app.inject(`/v1/accounts/${id}`), await app.inject("/v1/accounts")]) {
      expect(answer.body).not.toContain("s3cret");
      expect(answer.body).toContain(`${recorder.url}/ingest?…`);
    }
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

describe("accounts API: new credentials, checked before they replace the old ones", () => {
  // Needs root (the server's users are real accounts): without it startSshd fails, saying so.
  let server: SshServer;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses a wrong password leaving the old login working, and saves the right one, which uploads then use", async () => {
    const where = { host: server.host, port: server.port, hostKeyFingerprint: server.hostKeyFingerprint };
    const keyLogin = {
      ...where,
      username: server.keyUser.username,
      privateKey: server.keyUser.ed25519.privateKey,
    };
    const created = await post("/v1/accounts", {
      destination: "sftp",
      name: "partner drop",
      connection: keyLogin,
      details: { folderPath: server.writable },
    });
    expect(created.statusCode).toBe(201);
    const before = created.json() as { id: string; updatedAt: string; validatedAt: string };
    const { id } = before;
    const passwordLogin = { ...where, username: server.password.username };

    const wrong = await patch(id, { connection: { ...passwordLogin, password: "wrong-pw-hunter2" } });
    expect(wrong.statusCode).toBe(422);
    expect(wrong.json().error).toMatchObject({
      code: "sftp_auth_failed",
      message: expect.stringContaining(`user '${server.password.username}'`),
    });
    expect((await app.inject(`/v1/accounts/${id}`)).json()).toMatchObject({
      connection: { username: server.keyUser.username },
      secretsSet: ["privateKey"],
      updatedAt: before.updatedAt,
    });
    // The old credentials are still the account's: it re-validates with them.
    expect((await post(`/v1/accounts/${id}/validate`)).statusCode).toBe(200);
    const noSecret = await patch(id, { connection: passwordLogin });
    expect(noSecret.statusCode).toBe(400);
    expect(noSecret.json().error.message).toContain("connection.password: give a password or a privateKey");

    const rotated = await patch(id, { connection: { ...passwordLogin, password: server.password.password } });
    expect(rotated.statusCode).toBe(200);
    const after = rotated.json();
    expect(after).toMatchObject({
      id,
      name: "partner drop",
      connection: { ...passwordLogin },
      secretsSet: ["password"],
      validationDetails: { folderPath: server.writable },
      recordsPerSecond: null,
    });
    expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
    expect(Date.parse(after.validatedAt)).toBeGreaterThan(Date.parse(before.validatedAt));
    expect((await post(`/v1/accounts/${id}/validate`)).statusCode).toBe(200);

    // An export opens the account as this does: the file now belongs to the password user.
    const opened = await openAccountConnection(apiDeps, DEFAULT_SANDBOX, id);
    expect(opened.updatedAt.toISOString()).toBe(after.updatedAt);
    if (opened.definition.connector.kind !== "file") throw new Error("SFTP is a file destination");
    const session = await opened.definition.connector.open(
      opened.connection as never,
      {
        folderPath: server.writable,
      } as never,
    );
    try {
      await session.putFile("rotated.csv", Readable.from(["id\n1\n"]));
    } finally {
      await session.close();
    }
    const owner = fs.statSync(path.join(server.writable, "rotated.csv")).uid;
    expect(owner).toBe(Number(execFileSync("id", ["-u", server.password.username], { encoding: "utf8" })));

    const audit = (await app.inject("/v1/audit?resource=account")).json().items as {
      action: string;
      details: unknown;
    }[];
    const updates = audit.filter((entry) => entry.action === "update");
    expect(updates).toHaveLength(1);
    expect(updates[0]?.details).toEqual({
      changed: ["connection.password", "connection.privateKey", "connection.username"],
      name: "partner drop",
    });
    const everything = [created, wrong, noSecret, rotated, await app.inject("/v1/accounts")]
      .map((r) => r.body)
      .join("\n");
    for (const secret of [server.password.password, "wrong-pw-hunter2", "PRIVATE KEY"])
      expect(`${everything}${JSON.stringify(audit)}`).not.toContain(secret);
  });
});

describe.each(engines)("accounts API on %s: each account's own rate for streamed records", (engine) => {
  let own: { app: FastifyInstance; store: Store; deps: typeof apiDeps } | undefined;
  afterEach(async () => {
    await own?.app.close();
    await own?.store.close();
  });

  it("sets, shows and clears an HTTP account's rate, refuses one for a file destination naming the field", async () => {
    const { store: engineStore } = await storeWithDefaultSchema(engine);
    own = { store: engineStore, ...(await apiFor(engineStore)) };
    const on = own.app;
    const created = await on.inject({
      method: "POST",
      url: "/v1/accounts",
      payload: {
        destination: "http-api",
        name: "hook",
        connection: { url: `${recorder.url}/ingest`, authType: "bearer", token: "tok-hunter2" },
      },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().recordsPerSecond).toBeNull();
    const { id, updatedAt } = created.json() as { id: string; updatedAt: string };

    const limited = await patch(id, { recordsPerSecond: 250 }, on);
    expect(limited.statusCode).toBe(200);
    expect(limited.json()).toMatchObject({ recordsPerSecond: 250, name: "hook", secretsSet: ["token"] });
    expect(Date.parse(limited.json().updatedAt)).toBeGreaterThan(Date.parse(updatedAt));
    expect((await on.inject(`/v1/accounts/${id}`)).json().recordsPerSecond).toBe(250);
    expect((await on.inject("/v1/accounts")).json().items[0].recordsPerSecond).toBe(250);
    expect((await openAccountConnection(own.deps, DEFAULT_SANDBOX, id)).recordsPerSecond).toBe(250);

    for (const bad of [0, 2.5, "fast"]) {
      const refused = await patch(id, { recordsPerSecond: bad }, on);
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error.issues[0].field).toBe("recordsPerSecond");
    }
    const nothing = await patch(id, {}, on);
    expect(nothing.statusCode).toBe(400);
    expect(nothing.json().error.message).toContain("give at least one of name, connection, recordsPerSecond");

    const cleared = await patch(id, { recordsPerSecond: null }, on);
    expect(cleared.json().recordsPerSecond).toBeNull();
    expect((await openAccountConnection(own.deps, DEFAULT_SANDBOX, id)).recordsPerSecond).toBeUndefined();

    const root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-accounts-rate-"));
    try {
      const local = await on.inject({
        method: "POST",
        url: "/v1/accounts",
        payload: { destination: "local", name: "drop", connection: { root } },
      });
      const fileAccount = local.json().id as string;
      const refused = await patch(fileAccount, { recordsPerSecond: 100, name: "renamed" }, on);
      expect(refused.statusCode).toBe(400);
      expect(refused.json().error).toMatchObject({
        message: expect.stringContaining("recordsPerSecond: Local folder receives files on a schedule"),
        issues: [expect.objectContaining({ field: "recordsPerSecond" })],
      });
      expect((await on.inject(`/v1/accounts/${fileAccount}`)).json()).toMatchObject({
        name: "drop",
        recordsPerSecond: null,
      });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }

    const audit = (await on.inject("/v1/audit?resource=account")).json().items as { details: unknown }[];
    expect(audit.map((entry) => entry.details)).toEqual(
      expect.arrayContaining([
        { changed: ["recordsPerSecond"], name: "hook", recordsPerSecond: 250 },
        { changed: ["recordsPerSecond"], name: "hook", recordsPerSecond: null },
      ]),
    );
    expect(JSON.stringify(audit)).not.toContain("tok-hunter2");
  });
});
