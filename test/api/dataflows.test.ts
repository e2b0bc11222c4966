import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { startRun } from "../../src/activation/index.ts";
import type { Store } from "../../src/store/index.ts";
import { createFrenchSegment, dataflowFor, FRENCH, fixtureProfile } from "../support/activation.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";

/** The activation workflow through the API, step by step as the UI will drive it. */
describe("dataflows and runs API", () => {
  let app: FastifyInstance;
  let store: Store;
  let root = "";
  afterEach(async () => {
    await app?.close();
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** The API over a fresh store, and a local-folder account created through it. */
  async function apiWithLocalAccount() {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    ({ app } = await apiFor(store));
    await createFrenchSegment(store);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-api-export-"));
    return app.inject({
      method: "POST",
      url: "/v1/accounts",
      payload: { destination: "local", name: "drop", connection: { root } },
    });
  }

  it("connects an account, activates a segment, exports now, and reports the run", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    const { app: server, deps } = await apiFor(store);
    app = server;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-api-export-"));
    const post = (url: string, payload?: unknown) =>
      app.inject({ method: "POST", url, ...(payload === undefined ? {} : { payload: payload as object }) });

    expect(
      (
        await post(
          "/v1/profiles",
          Array.from({ length: 40 }, (_, i) => fixtureProfile(i)),
        )
      ).json(),
    ).toMatchObject({ stored: 40 });
    await post("/v1/segments", {
      id: "french",
      name: "French",
      definition: 'homeAddress.countryCode = "FR"',
    });
    expect((await post("/v1/segments/french/evaluate")).json()).toMatchObject({ size: 20 });

    const wrong = await post("/v1/accounts", {
      destination: "local",
      name: "drop",
      connection: { root: "/no/such/folder" },
    });
    expect(wrong.statusCode).toBe(404);
    expect(wrong.json().error.message).toMatch(/\/no\/such\/folder/);
    const account = await post("/v1/accounts", {
      destination: "local",
      name: "drop",
      connection: { root },
    });
    expect(account.statusCode).toBe(201);

    const draft = await post("/v1/dataflows", { ...dataflowFor(account.json().id), status: "draft" });
    expect(draft.statusCode).toBe(201);
    const id = draft.json().id as string;
    // A draft does not export; activating it does.
    expect((await post(`/v1/dataflows/${id}/runs`)).statusCode).toBe(409);
    expect((await post(`/v1/dataflows/${id}/activate`)).json().status).toBe("enabled");
    const triggered = await post(`/v1/dataflows/${id}/runs`);
    expect(triggered.statusCode).toBe(202);
    const [run] = triggered.json().items as { id: string }[];
    await deps.activation.idle();

    const detail = (await app.inject(`/v1/runs/${run?.id}`)).json();
    expect(detail).toMatchObject({
      status: "succeeded",
      received: 20,
      activated: 17,
      excluded: { missingMandatory: 3, duplicate: 0 },
    });
    expect(detail.files).toHaveLength(1);
    expect(fs.readdirSync(root)).toEqual([detail.files[0].name]);
    const listed = (await app.inject(`/v1/runs?dataflowId=${id}&status=succeeded`)).json().items;
    expect(listed.map((r: { id: string }) => r.id)).toEqual([run?.id]);
    expect((await app.inject("/v1/runs?status=failed")).json().items).toEqual([]);

    // The account is in use: deleting it is refused and names the dataflow.
    const refused = await app.inject({ method: "DELETE", url: `/v1/accounts/${account.json().id}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toMatch(/French customers to the agency/);
    // Secrets never come back; this account has none, and its root is visible.
    expect((await app.inject(`/v1/accounts/${account.json().id}`)).json().connection).toEqual({ root });

    expect((await post(`/v1/dataflows/${id}/pause`)).json().status).toBe("disabled");
    expect((await app.inject({ method: "DELETE", url: `/v1/dataflows/${id}` })).statusCode).toBe(204);
    expect(
      (await app.inject({ method: "DELETE", url: `/v1/accounts/${account.json().id}` })).statusCode,
    ).toBe(204);
  });

  it("keeps an enabled dataflow enabled when an edit leaves out the status, and changes it when given", async () => {
    const account = await apiWithLocalAccount();
    const { status: _status, ...definition } = dataflowFor(account.json().id);
    const created = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: { ...definition, status: "enabled" },
    });
    const put = (payload: object) =>
      app.inject({ method: "PUT", url: `/v1/dataflows/${created.json().id}`, payload });

    const renamed = await put({ ...definition, name: "Renamed" });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ name: "Renamed", status: "enabled" });
    expect((await put({ ...definition, status: "disabled" })).json().status).toBe("disabled");
    // A new dataflow without a status is still a draft.
    expect(
      (await app.inject({ method: "POST", url: "/v1/dataflows", payload: definition })).json().status,
    ).toBe("draft");
  });

  it("rejects an invalid dataflow naming the field", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    ({ app } = await apiFor(store));
    await createFrenchSegment(store);
    const response = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: {
        ...dataflowFor("no-such-account"),
        fileOptions: { csv: { delimiter: "ab" }, maxFiles: 0 },
      },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toMatch(/fileOptions\.csv\.delimiter.*one character/);
    expect(response.json().error.message).toMatch(/fileOptions\.maxFiles/);
  });

  it("refuses segments whose files would overwrite each other, and incremental files without the status", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    ({ app } = await apiFor(store));
    await createFrenchSegment(store);
    const base = dataflowFor("no-such-account");
    const segment = { ...base.segments[0], fileNameTemplate: "audience_%DATETIME%" };
    const shared = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: { ...base, segments: [segment, { ...segment, segmentId: "german" }] },
    });
    expect(shared.statusCode).toBe(400);
    expect(shared.json().error.issues.map((i: { field: string }) => i.field)).toEqual([
      "segments.0.fileNameTemplate",
      "segments.1.fileNameTemplate",
    ]);
    expect(shared.json().error.message).toMatch(/add %SEGMENT_ID% or %SEGMENT_NAME%/);

    const noStatus = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: {
        ...base,
        segments: [{ ...segment, mode: "incremental" }],
        mapping: { columns: base.mapping.columns.filter((c) => c.source.kind !== "membership") },
      },
    });
    expect(noStatus.statusCode).toBe(400);
    expect(noStatus.json().error.issues).toEqual([
      {
        field: "segments.0.mode",
        message: expect.stringMatching(/needs the membership status in the mapping/),
      },
    ]);
  });

  it("connects a new account on the way, checked before anything is saved", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    ({ app } = await apiFor(store));
    await createFrenchSegment(store);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-api-export-"));
    const { accountId: _none, ...definition } = dataflowFor("");
    const create = (payload: object) => app.inject({ method: "POST", url: "/v1/dataflows", payload });
    const accounts = async () => (await app.inject("/v1/accounts")).json().items as { id: string }[];

    const unreachable = await create({
      ...definition,
      account: { destination: "local", name: "drop", connection: { root: "/no/such/folder" } },
    });
    expect(unreachable.statusCode).toBe(404);
    expect(unreachable.json().error.message).toMatch(/\/no\/such\/folder/);
    const badMapping = await create({
      ...definition,
      account: { destination: "local", name: "drop", connection: { root } },
      mapping: { columns: [{ source: { kind: "attribute", path: "person.shoeSize" } }] },
    });
    expect(badMapping.statusCode).toBe(400);
    expect(await accounts()).toEqual([]);

    const created = await create({
      ...definition,
      account: { destination: "local", name: "drop", connection: { root } },
    });
    expect(created.statusCode).toBe(201);
    const [account] = await accounts();
    expect(created.json()).toMatchObject({ accountId: account?.id, destinationId: "local" });
    expect(created.json()).not.toHaveProperty("account");
    const audit = (await app.inject("/v1/audit?resource=account")).json().items as { action: string }[];
    expect(audit.map((a) => a.action)).toEqual(["create"]);

    const both = await create({
      ...definition,
      accountId: account?.id,
      account: { destination: "local", name: "x", connection: { root } },
    });
    expect(both.json().error.issues).toEqual([
      {
        field: "accountId",
        message:
          "accountId: give either accountId (an account saved before) or account (a new one), not both",
      },
    ]);
  });

  it("refuses to delete a dataflow while one of its runs is in flight", async () => {
    const account = await apiWithLocalAccount();
    const created = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: dataflowFor(account.json().id),
    });
    const id = created.json().id as string;
    const run = await startRun(store, "prod", {
      dataflowId: id,
      segmentId: FRENCH,
      trigger: "manual",
      scheduledFor: new Date(),
    });
    const refused = await app.inject({ method: "DELETE", url: `/v1/dataflows/${id}` });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: "run_in_progress" });
    expect(refused.json().error.message).toContain(run.id);
    await store.query("prod", "UPDATE runs SET status = 'failed' WHERE sandbox = $sandbox AND id = $1", [
      run.id,
    ]);
    expect((await app.inject({ method: "DELETE", url: `/v1/dataflows/${id}` })).statusCode).toBe(204);
  });

  it("checks the mapping against the schema when the dataflow is saved", async () => {
    const account = await apiWithLocalAccount();
    const response = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: {
        ...dataflowFor(account.json().id),
        mapping: { columns: [{ source: { kind: "attribute", path: "person.shoeSize" } }] },
      },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toMatch(/'person\.shoeSize' is not a profile field/);
  });

  it("tries the details against the destination when saved: a missing folder is refused and nothing saved", async () => {
    const account = await apiWithLocalAccount();
    const save = (method: "POST" | "PUT", url: string, payload: object) =>
      app.inject({ method, url, payload });
    const typo = { details: { folderPath: "exprots" } };

    const refused = await save("POST", "/v1/dataflows", dataflowFor(account.json().id, typo));
    expect(refused.statusCode).toBe(404);
    expect(refused.json().error.message).toMatch(/^folderPath 'exprots' \(in root '.*'\) does not exist$/);
    expect((await app.inject("/v1/dataflows")).json().items).toEqual([]);

    // An account created on the way is checked, then the dataflow's folder: refused, neither is saved.
    const { accountId: _none, ...withoutAccount } = dataflowFor("", typo);
    const inline = await save("POST", "/v1/dataflows", {
      ...withoutAccount,
      account: { destination: "local", name: "drop 2", connection: { root } },
    });
    expect(inline.statusCode).toBe(404);
    expect(inline.json().error.message).toMatch(/folderPath 'exprots'/);
    expect((await app.inject("/v1/accounts")).json().items).toHaveLength(1);

    fs.mkdirSync(path.join(root, "exports"));
    const created = await save(
      "POST",
      "/v1/dataflows",
      dataflowFor(account.json().id, { details: { folderPath: "exports" } }),
    );
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const edited = await save("PUT", `/v1/dataflows/${id}`, dataflowFor(account.json().id, typo));
    expect(edited.statusCode).toBe(404);
    expect(edited.json().error.message).toMatch(/folderPath 'exprots'/);
    expect((await app.inject(`/v1/dataflows/${id}`)).json().details).toEqual({ folderPath: "exports" });
    // Details already tried are not tried again: a rename goes through while the folder is gone.
    fs.rmSync(path.join(root, "exports"), { recursive: true });
    const renamed = await save("PUT", `/v1/dataflows/${id}`, {
      ...dataflowFor(account.json().id, { details: { folderPath: "exports" } }),
      name: "Renamed",
    });
    expect(renamed.statusCode).toBe(200);
  });

  it("refuses a segment id that names no segment of the sandbox, naming the field", async () => {
    const account = await apiWithLocalAccount();
    const base = dataflowFor(account.json().id);
    const response = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: { ...base, segments: [{ ...base.segments[0], segmentId: "frnech" }] },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.issues).toEqual([
      {
        field: "segments.0.segmentId",
        message: "segments.0.segmentId: no segment with id 'frnech' in this sandbox",
      },
    ]);
    expect((await app.inject("/v1/dataflows")).json().items).toEqual([]);
  });

  it("refuses a streaming schedule for a file destination, naming the segment's field", async () => {
    const account = await apiWithLocalAccount();
    const base = dataflowFor(account.json().id);
    const response = await app.inject({
      method: "POST",
      url: "/v1/dataflows",
      payload: {
        ...base,
        segments: [...base.segments, { segmentId: "loyal", schedule: { frequency: "streaming" } }],
      },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toMatch(
      /^segments\.1\.schedule\.frequency: "streaming" needs a streaming destination/,
    );
    expect((await app.inject("/v1/dataflows")).json().items).toEqual([]);
  });
});
