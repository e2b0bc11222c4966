import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Actor, localAdministrator, PERMISSIONS, type Permission } from "../../src/access/index.ts";
import { activationPermissions } from "../../src/activation/index.ts";
import { buildServer } from "../../src/api/index.ts";
import type { SchemaSnapshot } from "../../src/schema/index.ts";
import type { Store } from "../../src/store/index.ts";
import { activationFixture, dataflowFor, FRENCH } from "../support/activation.ts";

/** The local administrator less the given permissions. */
function without(...missing: Permission[]): Actor {
  return {
    id: `without ${missing.join(", ")}`,
    permissions: new Set(PERMISSIONS.filter((p) => !missing.includes(p))),
  };
}

const ACTIVATING: Permission[] = [
  "View Destinations",
  "Activate Destinations",
  "View Profiles",
  "View Segments",
  "View Identity Graph",
];

/** Every route checks its permissions against whoever `resolveActor` says is calling. */
describe("permissions of the activation and segment routes", () => {
  let store: Store;
  let app: FastifyInstance;
  let idle: () => Promise<void>;
  let actor: Actor = localAdministrator;
  let root = "";
  let accountId = "";
  let schema: SchemaSnapshot;

  beforeAll(async () => {
    const fixture = await activationFixture("duckdb", 40);
    store = fixture.store;
    schema = fixture.schema;
    idle = () => fixture.deps.activation.idle();
    // buildServer takes ApiDeps; the routes read the resolver from the same object.
    const deps = { ...fixture.deps, resolveActor: () => actor };
    app = await buildServer(deps);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-permissions-"));
    const account = await call(localAdministrator, "POST", "/v1/accounts", {
      destination: "local",
      name: "drop",
      connection: { root },
    });
    expect(account.statusCode).toBe(201);
    accountId = account.json().id;
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  function call(as: Actor, method: "GET" | "POST" | "PUT", url: string, payload?: object) {
    actor = as;
    return app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  }
  const admin = (method: "GET" | "POST" | "PUT", url: string, payload?: object) =>
    call(localAdministrator, method, url, payload);
  async function createDataflow(overrides: Record<string, unknown> = {}): Promise<string> {
    const created = await admin("POST", "/v1/dataflows", dataflowFor(accountId, overrides));
    expect(created.statusCode).toBe(201);
    return created.json().id;
  }
  const snapshot = async () => ({
    dataflows: (await admin("GET", "/v1/dataflows")).json().items,
    accounts: (await admin("GET", "/v1/accounts")).json().items,
    runs: (await admin("GET", "/v1/runs")).json().items,
    audit: (await admin("GET", "/v1/audit")).json().items,
  });
  function expectForbidden(
    response: { statusCode: number; json: () => { error: { message: string } } },
    missing: Permission,
  ) {
    expect(response.statusCode).toBe(403);
    expect(response.json().error.message).toContain(`'${missing}'`);
  }

  it("refuses each activation step to a caller missing any permission activating needs, changing nothing", async () => {
    const paused = await createDataflow({ status: "disabled" });
    const enabled = await createDataflow({ name: "Enabled" });
    const triggered = await admin("POST", `/v1/dataflows/${enabled}/runs`, {});
    expect(triggered.statusCode).toBe(202);
    await idle();
    const runId = triggered.json().items[0].id as string;
    const steps: [string, "POST" | "PUT", string, object?][] = [
      ["create", "POST", "/v1/dataflows", dataflowFor(accountId, { name: "New" })],
      [
        "update",
        "PUT",
        `/v1/dataflows/${paused}`,
        dataflowFor(accountId, { name: "Renamed", status: "disabled" }),
      ],
      ["activate", "POST", `/v1/dataflows/${paused}/activate`],
      ["resume", "POST", `/v1/dataflows/${paused}/resume`],
      ["export now", "POST", `/v1/dataflows/${enabled}/runs`, {}],
      ["rerun", "POST", `/v1/runs/${runId}/rerun`],
    ];
    const before = await snapshot();
    for (const [step, method, url, payload] of steps) {
      for (const missing of ACTIVATING) {
        const response = await call(without(missing), method, url, payload);
        expect(response.statusCode, `${step} without ${missing}`).toBe(403);
        expectForbidden(response, missing);
      }
    }
    expect(await snapshot()).toEqual(before);

    // The full administrator goes through every step.
    for (const [step, method, url, payload] of steps) {
      const response = await admin(method, url, payload);
      expect(response.statusCode, `${step}: ${response.body}`).toBeLessThan(300);
      await idle();
    }
  });

  it("lets a caller without View Identity Graph activate a mapping without identities, not one reading an identity's field", async () => {
    const noIdentities = {
      name: "No identities",
      mapping: { columns: [{ source: { kind: "attribute", path: "homeAddress.city" }, target: "city" }] },
    };
    const withoutGraph = without("View Identity Graph");
    const created = await call(withoutGraph, "POST", "/v1/dataflows", dataflowFor(accountId, noIdentities));
    expect(created.statusCode, created.body).toBe(201);
    const emailAsAttribute = {
      name: "Email as an attribute",
      mapping: {
        columns: [{ source: { kind: "attribute", path: "personalEmail.address" }, target: "mail" }],
      },
    };
    const before = await snapshot();
    expectForbidden(
      await call(
        withoutGraph,
        "PUT",
        `/v1/dataflows/${created.json().id}`,
        dataflowFor(accountId, emailAsAttribute),
      ),
      "View Identity Graph",
    );
    expect(await snapshot()).toEqual(before);
  });

  it("needs Manage Destinations to connect an account inside PUT /v1/dataflows/:id, and audits the account", async () => {
    const id = await createDataflow({ name: "Reconnected", status: "disabled" });
    const { accountId: _accountId, ...definition } = dataflowFor(accountId, {
      name: "Reconnected",
      status: "disabled",
    });
    const inline = {
      ...definition,
      account: { destination: "local", name: "connected on the way", connection: { root } },
    };
    const before = await snapshot();
    expectForbidden(
      await call(without("Manage Destinations"), "PUT", `/v1/dataflows/${id}`, inline),
      "Manage Destinations",
    );
    expect(await snapshot()).toEqual(before);

    const updated = await admin("PUT", `/v1/dataflows/${id}`, inline);
    expect(updated.statusCode, updated.body).toBe(200);
    const newAccount = updated.json().accountId as string;
    expect(newAccount).not.toBe(accountId);
    const audit = (await admin("GET", "/v1/audit")).json().items as {
      action: string;
      resource: string;
      resourceId: string;
    }[];
    expect(audit).toContainEqual(
      expect.objectContaining({ action: "create", resource: "account", resourceId: newAccount }),
    );
  });

  it("needs View Profiles besides View Segments to list a segment's members", async () => {
    expectForbidden(
      await call(without("View Profiles"), "GET", `/v1/segments/${FRENCH}/members`),
      "View Profiles",
    );
    expectForbidden(
      await call(without("View Segments"), "GET", `/v1/segments/${FRENCH}/members`),
      "View Segments",
    );
    const members = await admin("GET", `/v1/segments/${FRENCH}/members`);
    expect(members.statusCode).toBe(200);
    expect(members.json().members.length).toBeGreaterThan(0);
  });

  it("needs View Profiles besides View Destinations to list dead letters, whose payloads hold profile data", async () => {
    expectForbidden(await call(without("View Profiles"), "GET", "/v1/deadletters"), "View Profiles");
    expectForbidden(await call(without("View Destinations"), "GET", "/v1/deadletters"), "View Destinations");
    expect((await admin("GET", "/v1/deadletters")).json()).toEqual({ total: 0, items: [] });
  });

  it("documents every permission a route checks in its OpenAPI description", async () => {
    const paths = (await admin("GET", "/openapi.json")).json().paths;
    for (const [url, method] of [
      ["/v1/dataflows", "post"],
      ["/v1/dataflows/{id}", "put"],
      ["/v1/dataflows/{id}/activate", "post"],
      ["/v1/dataflows/{id}/resume", "post"],
      ["/v1/dataflows/{id}/runs", "post"],
      ["/v1/runs/{id}/rerun", "post"],
    ] as const) {
      const description = paths[url][method].description as string;
      for (const permission of ACTIVATING) expect(description, `${method} ${url}`).toContain(permission);
    }
    expect(paths["/v1/dataflows/{id}"].put.description).toContain("Manage Destinations");
    expect(paths["/v1/dataflows/{id}/pause"].post.description).toBe(
      "Requires permission: Activate Destinations",
    );
    expect(paths["/v1/segments/{id}/members"].get.description).toBe(
      "Requires permission: View Segments + View Profiles",
    );
  });

  it("counts a streaming schedule as exporting identities: its messages carry them", () => {
    const attributesOnly = {
      mapping: { columns: [{ source: { kind: "attribute" as const, path: "homeAddress.city" } }] },
      segments: [
        { segmentId: FRENCH, schedule: { frequency: "daily" as const, time: "06:00", timezone: "UTC" } },
      ],
    };
    expect(activationPermissions(attributesOnly, schema)).not.toContain("View Identity Graph");
    const streamed = {
      ...attributesOnly,
      segments: [{ segmentId: FRENCH, schedule: { frequency: "streaming" as const, timezone: "UTC" } }],
    };
    expect(activationPermissions(streamed, schema)).toContain("View Identity Graph");
  });
});
