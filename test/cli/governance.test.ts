import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { herald } from "../support/herald-cli.ts";

// Labels, policies and a dataflow's check through the `herald` command, as a child process.
describe("herald labels, policies and dataflows check", { timeout: 300_000 }, () => {
  let dataDir: string;
  let work: string;
  let accountId: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-governance-cli-"));
    work = fs.mkdtempSync(path.join(os.tmpdir(), "herald-governance-cli-work-"));
    const people = path.join(work, "people.csv");
    fs.writeFileSync(
      people,
      "personalEmail.address,homeAddress.countryCode,loyalty.points\nbob@example.com,FR,20\n",
    );
    expect((await herald(dataDir, "ingest", people)).code).toBe(0);
    await herald(
      dataDir,
      "segments",
      "create",
      "--id",
      "french",
      "--name",
      "French",
      "--definition",
      'homeAddress.countryCode = "FR"',
    );
    await herald(dataDir, "accounts", "create", "local", "--name", "Partner drop", "--field", `root=${work}`);
    accountId = (
      JSON.parse((await herald(dataDir, "accounts", "list", "--json")).stdout) as { id: string }[]
    )[0]?.id as string;
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("refuses to activate a violating dataflow, explains it in plain words, and guards enabling the policy", async () => {
    expect((await herald(dataDir, "labels", "apply", "loyalty.points", "C2")).stdout).toBe(
      "loyalty.points: C2\n",
    );
    const policyFile = path.join(work, "policy.json");
    fs.writeFileSync(
      policyFile,
      JSON.stringify({
        name: "No partner export of C2",
        marketingAction: "Export to third party",
        expression: { operator: "OR", operands: ["C2"] },
        status: "enabled",
      }),
    );
    const created = await herald(dataDir, "policies", "create", "--file", policyFile);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(
      "enabled  custom No partner export of C2: export_to_third_party when C2",
    );

    const dataflowFile = path.join(work, "dataflow.json");
    fs.writeFileSync(
      dataflowFile,
      JSON.stringify({
        name: "Points to partner",
        accountId,
        marketingActions: ["Export to third party"],
        segments: [{ segmentId: "french", schedule: { frequency: "daily", time: "06:00", timezone: "UTC" } }],
        mapping: {
          columns: [
            { source: { kind: "identity", namespace: "email" }, target: "email" },
            { source: { kind: "attribute", path: "loyalty.points" }, target: "points" },
          ],
        },
      }),
    );
    const draft = await herald(dataDir, "dataflows", "create", "--file", dataflowFile);
    expect(draft.code).toBe(0);
    expect(draft.stdout).toContain("draft");
    expect(draft.stderr).toContain("violates 'No partner export of C2'");

    const activate = await herald(dataDir, "dataflows", "activate", "Points to partner");
    expect(activate.code).toBe(1);
    expect(activate.stderr).toContain("violates policy 'No partner export of C2'");

    const check = await herald(dataDir, "dataflows", "check", "Points to partner");
    expect(check.code).toBe(3);
    expect(check.stdout).toBe(
      [
        "violates 'No partner export of C2': 'Export to third party' is denied for C2; in play: C2",
        "  C2 on field 'loyalty.points', mapped as column 'points', to Partner drop (Local folder)",
        "  to resolve: remove the mapped field 'loyalty.points' (column 'points') from the mapping",
        "  to resolve: remove the marketing action 'Export to third party' from this dataflow",
        "",
      ].join("\n"),
    );

    expect((await herald(dataDir, "policies", "disable", "No partner export of C2")).code).toBe(0);
    expect((await herald(dataDir, "dataflows", "activate", "Points to partner")).code).toBe(0);
    expect((await herald(dataDir, "dataflows", "check", "Points to partner")).stdout).toBe(
      "dataflow 'Points to partner' violates no enabled policy\n",
    );
    const enable = await herald(dataDir, "policies", "enable", "No partner export of C2");
    expect(enable.code).toBe(1);
    expect(enable.stderr).toContain("active dataflow(s) 'Points to partner'");
    expect((await herald(dataDir, "policies", "list")).stdout).toContain(
      "disabled custom No partner export of C2",
    );
  });
});
