import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  createRole,
  createToken,
  createUser,
  getUserByName,
  hashToken,
  type User,
} from "../../src/access/index.ts";
import {
  callerResponse,
  createdTokenResponse,
  roleListResponse,
  tokenListResponse,
  userListResponse,
} from "../../src/api/access-responses.ts";
import { createLogger } from "../../src/api/runtime.ts";
import { loadConfig } from "../../src/config/index.ts";
import { createSandbox, type Store } from "../../src/store/index.ts";
import { apiFor } from "../support/api.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";
import { anyFolder } from "../support/local-roots.ts";
import { engines } from "../support/stores.ts";

type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** With HERALD_AUTH=token, every route but health and docs needs a token; roles decide the rest. */
describe.each(engines)("users, roles and API tokens on %s (HERALD_AUTH=token)", (engine) => {
  let app: FastifyInstance;
  let store: Store;
  let logs: string;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  /** The API with tokens required, its log captured; an administrator and a prod-only segment viewer. */
  async function start() {
    ({ store } = await storeWithDefaultSchema(engine));
    await createSandbox(store, "dev");
    logs = "";
    const logSink = new Writable({
      write(chunk, _encoding, done) {
        logs += String(chunk);
        done();
      },
    });
    ({ app } = await apiFor(store, {
      config: loadConfig({ auth: "token", localRoots: anyFolder, logLevel: "trace" }, {}),
      logger: createLogger({ logLevel: "trace" }, logSink),
    }));
    const admin = await createUser(store, { name: "admin", roles: ["Administrator"] });
    const adminSecret = (await createToken(store, admin.id)).secret;
    await createRole(store, { name: "Segment viewer", permissions: ["View Segments"], sandboxes: ["prod"] });
    const viewer = await createUser(store, { name: "viewer", roles: ["Segment viewer"] });
    const viewerSecret = (await createToken(store, viewer.id, { name: "laptop" })).secret;
    return { admin, adminSecret, viewer, viewerSecret };
  }

  function call(secret: string | undefined, method: Method, url: string, payload?: object, sandbox?: string) {
    return app.inject({
      method,
      url,
      headers: {
        ...(secret === undefined ? {} : { authorization: `Bearer ${secret}` }),
        ...(sandbox ? { "x-sandbox-name": sandbox } : {}),
      },
      ...(payload === undefined ? {} : { payload }),
    });
  }
  function expectUnauthenticated(response: Awaited<ReturnType<typeof call>>, message: RegExp) {
    expect(response.statusCode, response.body).toBe(401);
    expect(response.headers["www-authenticate"]).toMatch(/^Bearer/);
    expect(response.json().error).toMatchObject({
      code: "unauthenticated",
      message: expect.stringMatching(message),
    });
  }
  function expectForbidden(response: Awaited<ReturnType<typeof call>>, permission: string) {
    expect(response.statusCode, response.body).toBe(403);
    expect(response.json().error.message).toContain(`'${permission}'`);
  }

  it("refuses calls without a valid token (401, WWW-Authenticate), never echoing it; health and docs stay open", async () => {
    const { admin, viewer, adminSecret } = await start();
    expectUnauthenticated(await call(undefined, "GET", "/v1/segments"), /needs an API token/);
    expectUnauthenticated(await call(undefined, "GET", "/v1/me"), /needs an API token/);
    expectUnauthenticated(await call(undefined, "GET", "/v1/sandboxes"), /needs an API token/);
    // Authenticated before the body is read: a stranger's body is never parsed.
    const unparsed = await app.inject({
      method: "POST",
      url: "/v1/profiles",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    expectUnauthenticated(unparsed, /needs an API token/);
    const garbage = "hrld_not-a-real-token-at-all";
    const refused = await call(garbage, "GET", "/v1/segments");
    expectUnauthenticated(refused, /not valid/);
    expect(refused.body).not.toContain(garbage);
    const basic = await app.inject({
      url: "/v1/segments",
      headers: { authorization: "Basic YWRtaW46YWRtaW4=" },
    });
    expectUnauthenticated(basic, /must be 'Bearer/);
    expect(basic.body).not.toContain("YWRtaW46YWRtaW4");

    // Expired: made as if a year ago, valid for a day.
    const yearAgo = new Date(Date.now() - 365 * 86_400_000);
    const expired = await createToken(
      store,
      admin.id,
      { expiresAt: new Date(yearAgo.getTime() + 86_400_000).toISOString() },
      yearAgo,
    );
    expectUnauthenticated(await call(expired.secret, "GET", "/v1/segments"), /expired at/);

    // Revoked through the API by the administrator.
    const fresh = await createToken(store, viewer.id);
    expect((await call(fresh.secret, "GET", "/v1/segments")).statusCode).toBe(200);
    const revoked = await call(adminSecret, "DELETE", `/v1/users/${viewer.id}/tokens/${fresh.token.id}`);
    expect(revoked.statusCode, revoked.body).toBe(204);
    expectUnauthenticated(await call(fresh.secret, "GET", "/v1/segments"), /revoked/);

    for (const url of ["/healthz", "/openapi.json", "/docs/"]) {
      expect((await call(undefined, "GET", url)).statusCode, url).toBe(200);
    }
    const doc = (await call(undefined, "GET", "/openapi.json")).json();
    expect(doc.components.securitySchemes.bearerToken).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/v1/segments"].get.responses["401"]).toBeDefined();
  });

  it("refuses a disabled user's tokens until they are enabled again", async () => {
    const { adminSecret, viewer, viewerSecret } = await start();
    const disabled = await call(adminSecret, "PATCH", `/v1/users/${viewer.id}`, { disabled: true });
    expect(disabled.statusCode, disabled.body).toBe(200);
    expect(disabled.json()).toMatchObject({ name: "viewer", disabled: true, roles: ["Segment viewer"] });
    expectUnauthenticated(await call(viewerSecret, "GET", "/v1/segments"), /'viewer' is disabled/);
    await call(adminSecret, "PATCH", `/v1/users/${viewer.id}`, { disabled: false });
    expect((await call(viewerSecret, "GET", "/v1/segments")).statusCode).toBe(200);
  });

  it("grants a role's permissions in its sandboxes only, changing nothing on a refusal", async () => {
    const { adminSecret, viewerSecret } = await start();
    const segment = { id: "french", name: "French", definition: 'homeAddress.countryCode = "FR"' };
    expect((await call(adminSecret, "POST", "/v1/segments", segment)).statusCode).toBe(201);
    const before = (await call(adminSecret, "GET", "/v1/segments")).json();

    const listed = await call(viewerSecret, "GET", "/v1/segments");
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json().items.map((s: { id: string }) => s.id)).toEqual(["french"]);
    expectForbidden(await call(viewerSecret, "GET", "/v1/segments", undefined, "dev"), "View Segments");
    expectForbidden(
      await call(viewerSecret, "POST", "/v1/segments", { ...segment, id: "mine", name: "Mine" }),
      "Manage Segments",
    );
    expectForbidden(
      await call(viewerSecret, "PATCH", "/v1/segments/french", { name: "X" }),
      "Manage Segments",
    );
    expectForbidden(await call(viewerSecret, "DELETE", "/v1/segments/french"), "Manage Segments");
    expectForbidden(await call(viewerSecret, "GET", "/v1/profiles?identity=email:a@b.c"), "View Profiles");
    expectForbidden(await call(viewerSecret, "GET", "/v1/users"), "Manage Users and Roles");
    expectForbidden(
      await call(viewerSecret, "POST", "/v1/roles", { name: "Mine", permissions: ["Manage Segments"] }),
      "Manage Users and Roles",
    );
    expect((await call(adminSecret, "GET", "/v1/segments")).json()).toEqual(before);
    expect((await call(adminSecret, "GET", "/v1/roles")).json().items).toHaveLength(2);

    const me = await call(viewerSecret, "GET", "/v1/me");
    expect(me.json()).toEqual({
      name: "viewer",
      user: true,
      sandbox: "prod",
      roles: ["Segment viewer"],
      permissions: ["View Segments"],
    });
    expect((await call(viewerSecret, "GET", "/v1/me", undefined, "dev")).json()).toMatchObject({
      sandbox: "dev",
      roles: [],
      permissions: [],
    });
  });

  it("takes global permissions (users, roles, sandboxes) from roles covering every sandbox only", async () => {
    const { adminSecret } = await start();
    await createRole(store, {
      name: "Prod user admin",
      permissions: ["Manage Users and Roles", "Manage Sandboxes"],
      sandboxes: ["prod"],
    });
    const local = await createUser(store, { name: "prod-admin", roles: ["Prod user admin"] });
    const secret = (await createToken(store, local.id)).secret;
    // A role limited to prod must not create roles or sandboxes reaching beyond it.
    expectForbidden(await call(secret, "GET", "/v1/users"), "Manage Users and Roles");
    expectForbidden(await call(secret, "POST", "/v1/sandboxes", { name: "other" }), "Manage Sandboxes");
    const widened = await call(adminSecret, "PATCH", `/v1/roles/${await roleId("Prod user admin")}`, {
      sandboxes: "all",
    });
    expect(widened.statusCode, widened.body).toBe(200);
    expect((await call(secret, "GET", "/v1/users")).statusCode).toBe(200);
  });

  async function roleId(name: string): Promise<string> {
    const [row] = await store.queryGlobal<{ id: string }>("SELECT id FROM roles WHERE name = $1", [name]);
    return row?.id ?? "";
  }

  it("records who acted, and keeps every token secret out of answers, logs, the audit log and the store", async () => {
    const { admin, adminSecret, viewer, viewerSecret } = await start();
    const segment = { id: "french", name: "French", definition: 'homeAddress.countryCode = "FR"' };
    expect((await call(adminSecret, "POST", "/v1/segments", segment)).statusCode).toBe(201);

    // A user makes and lists their own tokens; another user's need Manage Users and Roles.
    const own = await call(viewerSecret, "POST", `/v1/users/${viewer.id}/tokens`, { name: "ci" });
    expect(own.statusCode, own.body).toBe(201);
    const ownSecret = own.json().secret as string;
    expect(ownSecret).toMatch(/^hrld_[A-Za-z0-9_-]{43}$/);
    expectDocumented(createdTokenResponse, own.json());
    expectForbidden(
      await call(viewerSecret, "GET", `/v1/users/${admin.id}/tokens`),
      "Manage Users and Roles",
    );
    expectForbidden(
      await call(viewerSecret, "POST", `/v1/users/${admin.id}/tokens`, {}),
      "Manage Users and Roles",
    );
    const ownList = await call(ownSecret, "GET", `/v1/users/${viewer.id}/tokens`);
    expect(ownList.statusCode).toBe(200);
    expectDocumented(tokenListResponse, ownList.json());
    expect(ownList.json().items.map((t: { name: string }) => t.name)).toEqual(["laptop", "ci"]);
    // The viewer's first token was used: its last use is recorded, to the minute (more uses within
    // it write nothing).
    const lastUsed = ownList.json().items[0].lastUsedAt;
    expect(lastUsed).toEqual(expect.any(String));
    for (let i = 0; i < 3; i++)
      expect((await call(viewerSecret, "GET", "/v1/segments")).statusCode).toBe(200);
    const later = await call(viewerSecret, "GET", `/v1/users/${viewer.id}/tokens`);
    expect(later.json().items[0].lastUsedAt).toBe(lastUsed);

    const answers = [
      ownList.body,
      (await call(adminSecret, "GET", "/v1/users")).body,
      (await call(adminSecret, "GET", `/v1/users/${admin.id}/tokens`)).body,
      (await call(adminSecret, "GET", "/v1/audit?limit=1000")).body,
      (await call(adminSecret, "GET", "/v1/me")).body,
    ];
    expectDocumented(userListResponse, JSON.parse(answers[1] ?? ""));
    expectDocumented(roleListResponse, (await call(adminSecret, "GET", "/v1/roles")).json());
    expectDocumented(callerResponse, JSON.parse(answers[4] ?? ""));

    const audit = (await call(adminSecret, "GET", "/v1/audit?limit=1000")).json().items as {
      actor: string;
      action: string;
      resource: string;
      details: Record<string, unknown>;
    }[];
    expect(audit).toContainEqual(
      expect.objectContaining({ actor: "admin", action: "create", resource: "segment" }),
    );
    expect(audit).toContainEqual(
      expect.objectContaining({
        actor: "viewer",
        action: "create",
        resource: "token",
        details: { user: "viewer", name: "ci" },
      }),
    );
    const stored = await store.queryGlobal<Record<string, unknown>>("SELECT * FROM api_tokens");
    const auditRows = await store.queryGlobal<Record<string, unknown>>("SELECT * FROM audit_log");
    for (const secret of [adminSecret, viewerSecret, ownSecret]) {
      for (const answer of answers) expect(answer).not.toContain(secret);
      expect(logs).not.toContain(secret);
      expect(JSON.stringify(auditRows)).not.toContain(secret);
      expect(JSON.stringify(stored)).not.toContain(secret);
      expect(stored.map((row) => row.hash)).toContain(hashToken(secret));
    }
    // The log did record the requests (so the check above looked at something).
    expect(logs).toContain("/v1/users");
  });

  it("names the faulty field of a user or a role, and refuses an unknown permission or sandbox", async () => {
    const { admin, adminSecret } = await start();
    const role = await call(adminSecret, "POST", "/v1/roles", {
      name: "",
      permissions: ["View Segments", "Fly"],
    });
    expect(role.statusCode).toBe(400);
    expect(role.json().error.issues.map((i: { field: string }) => i.field)).toEqual([
      "name",
      "permissions.1",
    ]);
    const sandbox = await call(adminSecret, "POST", "/v1/roles", {
      name: "Dev",
      permissions: ["View Segments"],
      sandboxes: ["dev", "nope"],
    });
    expect(sandbox.statusCode).toBe(400);
    expect(sandbox.json().error.issues).toEqual([
      { field: "sandboxes.1", message: "sandboxes.1: sandbox 'nope' does not exist" },
    ]);
    const user = await call(adminSecret, "POST", "/v1/users", { name: "has space", roles: ["Nope"] });
    expect(user.statusCode).toBe(400);
    expect(user.json().error.issues.map((i: { field: string }) => i.field)).toEqual(["name"]);
    const unknownRole = await call(adminSecret, "POST", "/v1/users", { name: "ann", roles: ["Nope"] });
    expect(unknownRole.statusCode).toBe(400);
    expect(unknownRole.json().error.issues).toEqual([
      { field: "roles.0", message: "roles.0: role 'Nope' does not exist" },
    ]);
    for (const expiresAt of ["tomorrow", "2020-01-01T00:00:00Z"]) {
      const expiry = await call(adminSecret, "POST", `/v1/users/${admin.id}/tokens`, { expiresAt });
      expect(expiry.statusCode, expiresAt).toBe(400);
      expect(expiry.json().error.issues.map((i: { field: string }) => i.field)).toEqual(["expiresAt"]);
    }
    expect((await call(adminSecret, "GET", `/v1/users/${admin.id}/tokens`)).json().items).toHaveLength(1);
    expect((await call(adminSecret, "POST", "/v1/users", { name: "admin" })).statusCode).toBe(409);
    const viewerRole = `/v1/roles/${await roleId("Segment viewer")}`;
    const taken = await call(adminSecret, "PATCH", viewerRole, { name: "Administrator" });
    expect(taken.json().error).toMatchObject({ code: "role_exists" });
    const renamed = await call(adminSecret, "PATCH", viewerRole, { name: "Viewer", permissions: [] });
    expect(renamed.json().error.issues.map((i: { field: string }) => i.field)).toEqual(["permissions"]);
    expect((await call(adminSecret, "PATCH", viewerRole, { name: "Viewer" })).json()).toMatchObject({
      name: "Viewer",
      permissions: ["View Segments"],
      sandboxes: ["prod"],
    });
    expect((await call(adminSecret, "GET", "/v1/users")).json().items).toContainEqual(
      expect.objectContaining({ name: "viewer", roles: ["Viewer"] }),
    );
    expect(await getUserByName(store, "ann").catch((e: Error) => e.message)).toMatch(/does not exist/);
  });

  it("never lets the Administrator role be deleted or stripped, nor a held role be deleted", async () => {
    const { adminSecret } = await start();
    for (const [method, payload] of [
      ["DELETE", undefined],
      ["PATCH", { permissions: ["View Segments"] }],
      ["PATCH", { sandboxes: ["prod"] }],
    ] as const) {
      const refused = await call(adminSecret, method, "/v1/roles/administrator", payload);
      expect(refused.statusCode, `${method} ${JSON.stringify(payload)}`).toBe(409);
      expect(refused.json().error.code).toBe("role_builtin");
    }
    const administrator = (await call(adminSecret, "GET", "/v1/roles/administrator")).json();
    expect(administrator).toMatchObject({ name: "Administrator", sandboxes: "all", builtin: true });
    expect(administrator.permissions).toContain("Manage Users and Roles");
    const held = await call(adminSecret, "DELETE", `/v1/roles/${await roleId("Segment viewer")}`);
    expect(held.statusCode).toBe(409);
    expect(held.json().error.message).toContain("viewer");
  });

  it("keeps at least one enabled user able to manage users and roles", async () => {
    const { admin, adminSecret } = await start();
    const refusals: [Method, string, object?][] = [
      ["PATCH", `/v1/users/${admin.id}`, { disabled: true }],
      ["PATCH", `/v1/users/${admin.id}`, { roles: ["Segment viewer"] }],
      ["DELETE", `/v1/users/${admin.id}`],
    ];
    for (const [method, url, payload] of refusals) {
      const refused = await call(adminSecret, method, url, payload);
      expect(refused.statusCode, `${method} ${url}`).toBe(409);
      expect(refused.json().error).toMatchObject({ code: "last_administrator" });
    }
    const still: User = (await call(adminSecret, "GET", `/v1/users/${admin.id}`)).json();
    expect(still).toMatchObject({ disabled: false, roles: ["Administrator"] });

    // Two administrators disabling each other at once: one of them stays.
    const other = await createUser(store, { name: "other", roles: ["Administrator"] });
    const otherSecret = (await createToken(store, other.id)).secret;
    const crossed = await Promise.all([
      call(adminSecret, "PATCH", `/v1/users/${other.id}`, { disabled: true }),
      call(otherSecret, "PATCH", `/v1/users/${admin.id}`, { disabled: true }),
    ]);
    // The second is refused: 409 as the last administrator, or 401 when its caller was disabled
    // before it was authenticated.
    const [first, second] = crossed.map((r) => r.statusCode).sort();
    expect(first).toBe(200);
    expect([401, 409]).toContain(second);
    const enabled = await store.queryGlobal("SELECT name FROM users WHERE NOT disabled AND name <> 'viewer'");
    expect(enabled).toHaveLength(1);
    const survivor = enabled[0]?.name === "admin" ? adminSecret : otherSecret;
    const loser = survivor === adminSecret ? other : admin;
    expect((await call(survivor, "DELETE", `/v1/users/${loser.id}`)).statusCode).toBe(204);

    // With a second administrator, the first may go.
    const root2 = await call(survivor, "POST", "/v1/users", { name: "root2", roles: ["Administrator"] });
    expect(root2.statusCode).toBe(201);
    const survivorId = survivor === adminSecret ? admin.id : other.id;
    expect((await call(survivor, "DELETE", `/v1/users/${survivorId}`)).statusCode).toBe(204);
    expectUnauthenticated(await call(survivor, "GET", "/v1/me"), /not valid/);
    const audit = await store.queryGlobal<{ actor: string; action: string; resource: string }>(
      "SELECT actor, action, resource FROM audit_log WHERE resource = 'user' ORDER BY occurred_at",
    );
    // Refusals change nothing and are not recorded; each change names who made it.
    const survivorName = survivor === adminSecret ? "admin" : "other";
    expect(audit.map((e) => [e.actor, e.action])).toEqual([
      [survivorName, "update"],
      [survivorName, "delete"],
      [survivorName, "create"],
      [survivorName, "delete"],
    ]);
  });
});

const expectDocumented = (schema: z.ZodType, answer: unknown) => expect(schema.parse(answer)).toEqual(answer);

describe("without HERALD_AUTH on loopback", () => {
  let app: FastifyInstance;
  let store: Store;
  afterEach(async () => {
    await app?.close();
    await store?.close();
  });

  it("takes every caller as the local administrator, as before users existed", async () => {
    ({ store } = await storeWithDefaultSchema("duckdb"));
    ({ app } = await apiFor(store));
    const me = await app.inject("/v1/me");
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ name: "local-admin", user: false, roles: [] });
    expect(me.json().permissions).toContain("Manage Users and Roles");
    // A token is not needed, and a wrong one is not looked at.
    const listed = await app.inject({ url: "/v1/users", headers: { authorization: "Bearer nonsense" } });
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toEqual({ items: [] });
  });
});
