import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer, openHerald } from "../../src/api/index.ts";
import { expiryFrom } from "../../src/cli/access.ts";
import { loadConfig } from "../../src/config/index.ts";
import { herald } from "../support/herald-cli.ts";

/** What `herald start` with HERALD_AUTH=token answers a request with this Authorization header. */
async function callApi(dataDir: string, url: string, authorization?: string) {
  const running = await openHerald(loadConfig({ dataDir, auth: "token", logLevel: "silent" }, {}));
  const app = await buildServer(running);
  try {
    const response = await app.inject({ url, headers: authorization ? { authorization } : {} });
    return { status: response.statusCode, body: response.json() };
  } finally {
    await app.close();
    await running.close();
  }
}

// Each command opens the store in its own process: a few seconds each on a loaded machine.
describe("herald users, roles and tokens", { timeout: 180_000 }, () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-access-"));
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("makes the first administrator and a token that the API then accepts, until it is revoked", async () => {
    const admin = await herald(dataDir, "users", "create", "admin", "--role", "Administrator");
    expect(admin.code, admin.stderr).toBe(0);
    expect(admin.stdout).toMatch(/^admin +enabled +roles: Administrator$/m);
    const role = await herald(
      dataDir,
      "roles",
      "create",
      "--name",
      "Segment viewer",
      "--permission",
      "View Segments",
      "--sandbox",
      "prod",
    );
    expect(role.code, role.stderr).toBe(0);
    const unknown = await herald(dataDir, "roles", "create", "--name", "Bad", "--permission", "Fly");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/permissions\.0/);

    const created = await herald(
      dataDir,
      "tokens",
      "create",
      "admin",
      "--name",
      "ops",
      "--expires-in",
      "30d",
    );
    expect(created.code, created.stderr).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^hrld_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/will not be shown again/);

    const listed = await herald(dataDir, "tokens", "list", "admin", "--json");
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(secret);
    const [token] = JSON.parse(listed.stdout) as { id: string; name: string; expiresAt: string }[];
    expect(token).toMatchObject({ name: "ops" });
    expect(new Date(token?.expiresAt ?? 0).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    expect(await callApi(dataDir, "/v1/me", `Bearer ${secret}`)).toMatchObject({
      status: 200,
      body: { name: "admin", user: true, roles: ["Administrator"] },
    });
    expect((await callApi(dataDir, "/v1/me")).status).toBe(401);

    // The last administrator stays.
    const disabled = await herald(dataDir, "users", "disable", "admin");
    expect(disabled.code).toBe(1);
    expect(disabled.stderr).toMatch(/no enabled user would be left with 'Manage Users and Roles'/);

    const revoked = await herald(dataDir, "tokens", "revoke", token?.id ?? "");
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await callApi(dataDir, "/v1/me", `Bearer ${secret}`)).toMatchObject({
      status: 401,
      body: { error: { code: "unauthenticated", message: "The API token has been revoked" } },
    });
    const users = await herald(dataDir, "users", "list");
    expect(users.stdout).toMatch(/^admin +enabled/m);
  });

  it("gives a user other roles, changes a role and deletes it once no user holds it", async () => {
    await herald(dataDir, "users", "create", "ana");
    const role = await herald(
      dataDir,
      "roles",
      "create",
      "--name",
      "Viewer",
      "--permission",
      "View Segments",
    );
    expect(role.code, role.stderr).toBe(0);
    const given = await herald(dataDir, "users", "roles", "ana", "--role", "Viewer");
    expect(given.stdout).toMatch(/^ana +enabled +roles: Viewer$/m);

    const changed = await herald(
      dataDir,
      ...["roles", "update", "Viewer", "--name", "Prod viewer", "--permission", "View Segments"],
      ...["--permission", "View Profiles", "--sandbox", "prod"],
    );
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toBe("Prod viewer  (sandboxes prod)\n    View Segments\n    View Profiles\n");
    const nothing = await herald(dataDir, "roles", "update", "Prod viewer");
    expect(nothing.stderr).toMatch(/nothing to change/);

    const held = await herald(dataDir, "roles", "delete", "Prod viewer");
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(/ana/);
    await herald(dataDir, "users", "roles", "ana");
    const deleted = await herald(dataDir, "roles", "delete", "Prod viewer");
    expect(deleted).toMatchObject({ code: 0, stdout: "deleted role Prod viewer\n" });
    expect((await herald(dataDir, "roles", "delete", "Administrator")).code).toBe(1);
  });

  it("reads --expires-in as days or hours, refusing anything else by name", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(expiryFrom("30d", now).toISOString()).toBe("2026-01-31T00:00:00.000Z");
    expect(expiryFrom("12h", now).toISOString()).toBe("2026-01-01T12:00:00.000Z");
    for (const wrong of ["0d", "3x", "d", "-1d"])
      expect(() => expiryFrom(wrong, now)).toThrow(/--expires-in/);
  });
});
