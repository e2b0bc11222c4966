import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Actor, localAdministrator, PERMISSIONS } from "../../src/access/index.ts";
import { buildServer, type Herald, openHerald } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { createAccount } from "../../src/destinations/index.ts";
import { sandbox } from "../support/activation.ts";
import { type KeyServices, startKeyServices } from "../support/customer-keys.ts";

/** GET /v1/keys: the whole Herald's key, for those who manage it; ids and counts, never key material. */
describe("GET /v1/keys", () => {
  let services: KeyServices;
  let herald: Herald;
  let app: FastifyInstance;
  let dataDir = "";
  let arn = "";
  let actor: Actor = localAdministrator;

  beforeAll(async () => {
    services = await startKeyServices();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-keys-route-"));
    fs.mkdirSync(path.join(dataDir, "exports"));
    arn = services.kms.createKey();
    const config = loadConfig(
      { dataDir },
      { HERALD_KEY_PROVIDER: "aws-kms", HERALD_KEY_ID: arn, HERALD_KMS_ENDPOINT: services.kms.endpoint },
    );
    herald = await openHerald(config, pino({ level: "silent" }), services.clients);
    await createAccount(herald, sandbox, {
      destinationId: "local",
      name: "drop",
      connection: { root: path.join(dataDir, "exports") },
    });
    // buildServer takes ApiDeps; the routes read the resolver from the same object.
    const deps = { ...herald, resolveActor: () => actor };
    app = await buildServer(deps);
  });
  afterAll(async () => {
    await app?.close();
    await herald?.close();
    await services?.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("shows the provider, the key id and how many values each key sealed", async () => {
    actor = localAdministrator;
    const response = await app.inject({ method: "GET", url: "/v1/keys" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      provider: "aws-kms",
      keyId: arn,
      sealedValues: [{ keyId: arn, values: 1, current: true }],
    });
    // No sealed value, wrapped key or key material in the answer.
    const [row] = await herald.store.query<{ connection_sealed: string }>(
      sandbox,
      "SELECT connection_sealed FROM accounts WHERE sandbox = $sandbox",
    );
    const sealed = JSON.parse(row?.connection_sealed ?? "{}") as { wk: string; ct: string };
    expect(response.body).not.toContain(sealed.wk);
    expect(response.body).not.toContain(sealed.ct);
  });

  it("needs 'Manage Customer Managed Key', in no sandbox", async () => {
    actor = {
      id: "no-key-manager",
      permissions: new Set(PERMISSIONS.filter((p) => p !== "Manage Customer Managed Key")),
    };
    const refused = await app.inject({ method: "GET", url: "/v1/keys" });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error.message).toBe(
      "This action needs the permission 'Manage Customer Managed Key'",
    );
    actor = { id: "key-manager", permissions: new Set(["Manage Customer Managed Key"]) };
    const allowed = await app.inject({
      method: "GET",
      url: "/v1/keys",
      headers: { "x-sandbox-name": "nowhere" },
    });
    expect(allowed.statusCode).toBe(200);
  });

  it("with the key revoked, accounts answer 503 key_unavailable naming the key; the key status still answers", async () => {
    actor = localAdministrator;
    services.kms.setState(arn, "denied");
    try {
      const accounts = await app.inject({ method: "GET", url: "/v1/accounts" });
      expect(accounts.statusCode).toBe(503);
      expect(accounts.json().error).toMatchObject({
        code: "key_unavailable",
        message: expect.stringMatching(
          new RegExp(`^The customer-managed key ${arn} \\(HERALD_KEY_ID\\) refused: AccessDeniedException: `),
        ),
      });
      expect((await app.inject({ method: "GET", url: "/v1/keys" })).statusCode).toBe(200);
    } finally {
      services.kms.setState(arn, "enabled");
    }
    expect((await app.inject({ method: "GET", url: "/v1/accounts" })).statusCode).toBe(200);
  });
});
