import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Actor, localAdministrator, PERMISSIONS, type Permission } from "../../src/access/index.ts";
import { buildServer } from "../../src/api/index.ts";
import type { Store } from "../../src/store/index.ts";
import { activationFixture, dataflowFor, FRENCH } from "../support/activation.ts";
import { EXPORT_WHEN_C2, exportingTier } from "../support/governance.ts";
import { engines } from "../support/stores.ts";

type Answer = Awaited<ReturnType<FastifyInstance["inject"]>>;
/** The fields of the answers' items these tests read. */
type Item = {
  id: string;
  name: string;
  path: string;
  core: boolean;
  status: string;
  labels: string[];
  action: string;
  actor: string;
  policy: { name: string };
  dataflow: { name: string };
};

/** The local administrator less the given permissions. */
function without(...missing: Permission[]): Actor {
  return {
    id: `without ${missing.join(", ")}`,
    permissions: new Set(PERMISSIONS.filter((p) => !missing.includes(p))),
  };
}

describe.each(engines)("data-usage policies on %s", (engine) => {
  let store: Store;
  let app: FastifyInstance;
  let actor: Actor = localAdministrator;
  let root = "";
  let accountId = "";

  const call = (
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    url: string,
    payload?: unknown,
    as = localAdministrator,
  ): Promise<Answer> => {
    actor = as;
    return app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) });
  };
  const label = (field: string, labels: string[]) =>
    call("PUT", `/v1/schema/fields/${field}/labels`, { labels });

  beforeEach(async () => {
    const fixture = await activationFixture(engine, 20);
    store = fixture.store;
    // buildServer takes ApiDeps; the routes read the resolver from the same object.
    const deps = { ...fixture.deps, resolveActor: () => actor };
    app = await buildServer(deps);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-governance-"));
    const account = await call("POST", "/v1/accounts", {
      destination: "local",
      name: "Agency drop",
      connection: { root },
    });
    expect(account.statusCode).toBe(201);
    accountId = account.json().id;
  });
  afterEach(async () => {
    await app?.close();
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("refuses to activate a dataflow exporting a C2 field to a third party, naming policy, action, label, field and lineage", async () => {
    expect((await label("loyalty.tier", ["C2"])).statusCode).toBe(200);
    const policy = await call("POST", "/v1/policies", EXPORT_WHEN_C2);
    expect(policy.statusCode).toBe(201);

    const refused = await call("POST", "/v1/dataflows", exportingTier(accountId));
    expect(refused.statusCode).toBe(409);
    const { error } = refused.json();
    expect(error.code).toBe("policy_violation");
    expect(error.message).toContain("No third-party export of C2 data");
    expect(error.message).toContain("Export to third party");
    expect(error.message).toContain("C2");
    expect(error.message).toContain("loyalty.tier");
    expect(error.details.violations).toEqual([
      {
        policy: { id: policy.json().id, name: "No third-party export of C2 data" },
        marketingAction: "Export to third party",
        expression: "C2",
        labels: ["C2"],
        lineage: [
          {
            label: "C2",
            field: "loyalty.tier",
            entity: "profile",
            usedBy: "mapping",
            column: "tier",
            dataflow: "French customers to the agency",
            destination: "Agency drop (Local folder)",
          },
        ],
        suggestions: [
          "remove the mapped field 'loyalty.tier' (column 'tier') from the mapping",
          "remove the marketing action 'Export to third party' from this dataflow",
        ],
        message: expect.stringContaining("violates policy 'No third-party export of C2 data'"),
      },
    ]);
    expect((await call("GET", "/v1/dataflows")).json().items).toEqual([]);

    // A draft is saved, its violations shown as warnings; activating it is refused.
    const draft = await call("POST", "/v1/dataflows", exportingTier(accountId, { status: "draft" }));
    expect(draft.statusCode).toBe(201);
    expect(draft.json().policyViolations.map((v: Item) => [v.policy.name, v.labels])).toEqual([
      ["No third-party export of C2 data", ["C2"]],
    ]);
    const activate = await call("POST", `/v1/dataflows/${draft.json().id}/activate`);
    expect(activate.statusCode).toBe(409);
    expect(activate.json().error.code).toBe("policy_violation");
    expect((await call("GET", `/v1/dataflows/${draft.json().id}`)).json().status).toBe("draft");
    // Enabling through an edit is refused too.
    const edit = await call("PUT", `/v1/dataflows/${draft.json().id}`, exportingTier(accountId));
    expect(edit.statusCode).toBe(409);
    const check = await call("POST", `/v1/dataflows/${draft.json().id}/policy-check`);
    expect(check.json().violations).toHaveLength(1);
  });

  it("allows it without the action, with the field neither mapped nor read by a rule, or with the policy disabled", async () => {
    await label("loyalty.tier", ["C2"]);
    const policy = (await call("POST", "/v1/policies", EXPORT_WHEN_C2)).json();
    const withoutAction = await call(
      "POST",
      "/v1/dataflows",
      exportingTier(accountId, { marketingActions: ["Email targeting"] }),
    );
    expect(withoutAction.statusCode).toBe(201);
    expect(withoutAction.json().policyViolations).toEqual([]);
    const unmapped = await call("POST", "/v1/dataflows", {
      ...dataflowFor(accountId),
      name: "Unmapped tier",
      marketingActions: ["export_to_third_party"],
    });
    expect(unmapped.statusCode).toBe(201);
    expect(unmapped.json().policyViolations).toEqual([]);

    const disabled = await call("PATCH", `/v1/policies/${policy.id}`, { status: "disabled" });
    expect(disabled.json().status).toBe("disabled");
    const allowed = await call("POST", "/v1/dataflows", exportingTier(accountId, { name: "Tier export" }));
    expect(allowed.statusCode).toBe(201);
    // Enabling the policy now would make the active dataflow violate it: refused, naming it.
    const enable = await call("PATCH", `/v1/policies/${policy.id}`, { status: "enabled" });
    expect(enable.statusCode).toBe(409);
    expect(enable.json().error.code).toBe("policy_violation");
    expect(enable.json().error.message).toContain("'Tier export'");
    expect(enable.json().error.details.dataflows.map((d: Item) => d.dataflow.name)).toEqual(["Tier export"]);
    expect((await call("GET", `/v1/policies/${policy.id}`)).json().status).toBe("disabled");
    // Paused, it no longer counts: the policy can be enabled, and resuming is refused.
    const flowId = allowed.json().id;
    expect((await call("POST", `/v1/dataflows/${flowId}/pause`)).statusCode).toBe(200);
    expect((await call("PATCH", `/v1/policies/${policy.id}`, { status: "enabled" })).statusCode).toBe(200);
    const resume = await call("POST", `/v1/dataflows/${flowId}/resume`);
    expect(resume.statusCode).toBe(409);
    expect(resume.json().error.message).toContain("Tier export");
  });

  it("counts a field read only by a segment's rule", async () => {
    await label("homeAddress.countryCode", ["S2", "C2"]);
    await call("POST", "/v1/policies", EXPORT_WHEN_C2);
    const refused = await call("POST", "/v1/dataflows", {
      ...dataflowFor(accountId),
      marketingActions: ["Export to third party"],
    });
    expect(refused.statusCode).toBe(409);
    const [violation] = refused.json().error.details.violations;
    expect(violation.lineage).toEqual([
      expect.objectContaining({
        label: "C2",
        field: "homeAddress.countryCode",
        usedBy: "segment",
        segment: { id: FRENCH, name: "French customers" },
      }),
    ]);
    expect(violation.suggestions[0]).toBe(
      "remove segment 'French customers' from this dataflow, or change its rule so that it no longer reads 'homeAddress.countryCode'",
    );
  });

  it("refuses a later label or segment rule that would make an active dataflow violate", async () => {
    await call("POST", "/v1/policies", EXPORT_WHEN_C2);
    const flow = await call("POST", "/v1/dataflows", exportingTier(accountId));
    expect(flow.statusCode).toBe(201);
    // Labelling the exported field C2.
    const labelled = await label("loyalty.tier", ["C2"]);
    expect(labelled.statusCode).toBe(409);
    expect(labelled.json().error.message).toContain("'French customers to the agency'");
    expect(
      (await call("GET", "/v1/schema/fields")).json().items.find((f: Item) => f.path === "loyalty.tier")
        .labels,
    ).toEqual([]);
    // Labelling a field no dataflow uses is fine; a rule starting to read it is refused.
    expect((await label("loyalty.points", ["C2"])).statusCode).toBe(200);
    const rule = await call("PATCH", `/v1/segments/${FRENCH}`, {
      definition: 'homeAddress.countryCode = "FR" and loyalty.points > 10',
    });
    expect(rule.statusCode).toBe(409);
    expect(rule.json().error.code).toBe("policy_violation");
    expect(rule.json().error.message).toContain("segment 'French customers'");
    expect((await call("GET", `/v1/segments/${FRENCH}`)).json().definition).toBe(
      'homeAddress.countryCode = "FR"',
    );
    // Editing an enabled policy to a label in play is refused as well.
    const policies = (await call("GET", "/v1/policies")).json().items;
    const own = policies.find((p: Item) => !p.core);
    const widened = await call("PATCH", `/v1/policies/${own.id}`, {
      expression: { operator: "OR", operands: ["C2", "S2"] },
    });
    expect(widened.statusCode).toBe(409);
    expect(widened.json().error.details.violations[0].labels).toEqual(["S2"]);
  });

  it("validates labels and actions, and lets custom ones be used", async () => {
    const unknown = await call("POST", "/v1/policies", {
      ...EXPORT_WHEN_C2,
      expression: { operator: "AND", operands: ["C2", { operator: "OR", operands: ["I1", "PII-EU"] }] },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.code).toBe("unknown_label");
    expect(unknown.json().error.issues).toEqual([
      expect.objectContaining({
        field: "expression.operands.1.operands.1",
        message: expect.stringContaining("'PII-EU'"),
      }),
    ]);
    const badOperator = await call("POST", "/v1/policies", {
      ...EXPORT_WHEN_C2,
      expression: { operator: "XOR", operands: ["C2"] },
    });
    expect(badOperator.statusCode).toBe(400);
    expect((await label("loyalty.tier", ["PII-EU"])).statusCode).toBe(400);

    expect(
      (await call("POST", "/v1/labels", { name: "PII-EU", description: "EU personal data" })).statusCode,
    ).toBe(201);
    expect((await call("GET", "/v1/labels")).json().items.map((l: Item) => l.name)).toContain("PII-EU");
    expect((await label("loyalty.tier", ["PII-EU"])).statusCode).toBe(200);
    expect((await call("POST", "/v1/marketing-actions", { name: "Print mailing" })).json().id).toBe(
      "print_mailing",
    );
    const custom = await call("POST", "/v1/policies", {
      name: "No EU data on paper",
      marketingAction: "Print mailing",
      expression: { operator: "OR", operands: ["PII-EU"] },
      status: "enabled",
    });
    expect(custom.statusCode).toBe(201);
    expect(custom.json().marketingAction).toBe("print_mailing");
    const refused = await call(
      "POST",
      "/v1/dataflows",
      exportingTier(accountId, { marketingActions: ["print_mailing"] }),
    );
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toContain("No EU data on paper");
    // In use, the label and the action stay.
    expect((await call("DELETE", "/v1/labels/PII-EU")).statusCode).toBe(409);
    expect((await call("DELETE", "/v1/marketing-actions/print_mailing")).statusCode).toBe(409);
    expect((await call("DELETE", "/v1/labels/C2")).statusCode).toBe(409);

    const unknownAction = await call(
      "POST",
      "/v1/dataflows",
      exportingTier(accountId, { marketingActions: ["Email targeting", "Telepathy"] }),
    );
    expect(unknownAction.statusCode).toBe(400);
    expect(unknownAction.json().error.issues).toEqual([
      expect.objectContaining({
        field: "marketingActions.1",
        message: expect.stringContaining("'Telepathy'"),
      }),
    ]);
  });

  it("ships the core policies disabled: status changes only, never deleted; every change audited", async () => {
    const policies = (await call("GET", "/v1/policies")).json().items;
    const core = policies.filter((p: Item) => p.core);
    expect(core.map((p: Item) => p.name)).toEqual(
      expect.arrayContaining([
        "Restrict data export",
        "Restrict onsite advertising",
        "Restrict cross-site targeting",
        "Restrict combining with identifiable data",
      ]),
    );
    expect(core.every((p: Item) => p.status === "disabled")).toBe(true);
    const exportPolicy = core.find((p: Item) => p.name === "Restrict data export");
    expect(exportPolicy).toMatchObject({
      marketingAction: "export_to_third_party",
      expression: { operator: "OR", operands: ["C2", "C12"] },
    });
    expect((await call("PATCH", `/v1/policies/${exportPolicy.id}`, { name: "Mine now" })).statusCode).toBe(
      409,
    );
    expect((await call("DELETE", `/v1/policies/${exportPolicy.id}`)).statusCode).toBe(409);
    expect(
      (await call("PATCH", `/v1/policies/Restrict data export`, { status: "enabled" })).json().status,
    ).toBe("enabled");

    const own = (await call("POST", "/v1/policies", { ...EXPORT_WHEN_C2, status: "draft" })).json();
    expect(own.status).toBe("draft");
    expect((await call("DELETE", `/v1/policies/${own.id}`)).statusCode).toBe(204);
    const audit = (await call("GET", "/v1/audit?resource=policy")).json().items;
    expect(audit.map((a: Item) => a.action).sort()).toEqual(["create", "delete", "update"]);
    expect(audit.every((a: Item) => a.actor === "local-admin")).toBe(true);
  });

  it("needs View Data Usage Policies to read and Manage Data Usage Policies to change", async () => {
    const viewer = without("Manage Data Usage Policies", "Apply Data Usage Labels");
    const blind = without("View Data Usage Policies");
    for (const url of ["/v1/policies", "/v1/labels", "/v1/marketing-actions"]) {
      expect((await call("GET", url, undefined, viewer)).statusCode, url).toBe(200);
      const refused = await call("GET", url, undefined, blind);
      expect(refused.statusCode, url).toBe(403);
      expect(refused.json().error.message).toContain("View Data Usage Policies");
    }
    const create = await call("POST", "/v1/policies", EXPORT_WHEN_C2, viewer);
    expect(create.statusCode).toBe(403);
    expect(create.json().error.message).toContain("Manage Data Usage Policies");
    expect((await call("GET", "/v1/policies")).json().items.filter((p: Item) => !p.core)).toEqual([]);
    const [core] = (await call("GET", "/v1/policies")).json().items;
    expect((await call("PATCH", `/v1/policies/${core.id}`, { status: "enabled" }, viewer)).statusCode).toBe(
      403,
    );
    const labelRefused = await call("POST", "/v1/labels", { name: "Mine" }, viewer);
    expect(labelRefused.statusCode).toBe(403);
    expect(labelRefused.json().error.message).toContain("Apply Data Usage Labels");
    expect(
      (await call("PUT", "/v1/schema/fields/loyalty.tier/labels", { labels: ["C2"] }, viewer)).statusCode,
    ).toBe(403);
    expect(
      (await call("POST", "/v1/labels", { name: "Mine" }, without("Manage Data Usage Policies"))).statusCode,
    ).toBe(201);
  });
});
