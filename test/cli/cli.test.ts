import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.ts";
import { openStore } from "../../src/store/index.ts";
import { herald } from "../support/herald-cli.ts";

// Each command opens the store in its own process: a few seconds each on a loaded machine.
describe("the herald command", { timeout: 180_000 }, () => {
  let dataDir: string;
  let work: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-"));
    work = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-work-"));
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("lists the catalog filtered by category", async () => {
    const result = await herald(dataDir, "destinations", "list", "--category", "cloud_storage", "--json");
    expect(result.code).toBe(0);
    const ids = (JSON.parse(result.stdout) as { id: string; category: string }[]).map((d) => d.id);
    expect(ids).toEqual(expect.arrayContaining(["local", "sftp", "amazon-s3", "azure-blob"]));
    expect(ids).not.toContain("amazon-kinesis");
  });

  it("refuses to prompt without a terminal, naming the missing fields, and saves no account on a failed check", async () => {
    const missing = await herald(dataDir, "accounts", "create", "local", "--name", "pickup");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing connection field for Local folder: root .*not a terminal/);

    const wrong = await herald(
      dataDir,
      "accounts",
      "create",
      "local",
      "--name",
      "pickup",
      "--field",
      "root=/no/such/dir",
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/\/no\/such\/dir/);

    const ok = await herald(
      dataDir,
      "accounts",
      "create",
      "local",
      "--name",
      "pickup",
      "--field",
      `root=${work}`,
    );
    expect(ok.code).toBe(0);
    const accounts = await herald(dataDir, "accounts", "list", "--json");
    expect((JSON.parse(accounts.stdout) as { name: string }[]).map((a) => a.name)).toEqual(["pickup"]);
  });

  it("loads a file, defines and evaluates a segment, and pages its members", async () => {
    const file = path.join(work, "people.csv");
    fs.writeFileSync(
      file,
      "personalEmail.address;homeAddress.countryCode;loyalty.points\nann@example.com;FR;10\nbob@example.com;DE;20\nbad@example.com;FR;many\n",
    );
    const loaded = await herald(dataDir, "ingest", file, "--delimiter", ";");
    expect(loaded.stdout).toMatch(/3 received, 2 stored, 1 rejected/);
    expect(loaded.stdout).toMatch(/row 3 loyalty\.points/);

    const created = await herald(
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
    expect(created.code).toBe(0);
    const bad = await herald(
      dataDir,
      "segments",
      "create",
      "--name",
      "Old",
      "--definition",
      "person.age > 50",
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/did you mean age\(person\.birthDate\)/);

    const evaluated = await herald(dataDir, "segments", "evaluate", "french");
    expect(evaluated.stdout).toMatch(/french\s+1 members: 1 realized, 0 existing, 0 exited/);
    const members = await herald(dataDir, "segments", "members", "french", "--json");
    expect(JSON.parse(members.stdout)).toMatchObject({ total: 1, members: [{ status: "realized" }] });
  });

  // After the two tests above: the account "pickup" and the evaluated segment "french".
  it("creates, edits and exports a dataflow, and lists its runs by status and time", async () => {
    const accounts = JSON.parse((await herald(dataDir, "accounts", "list", "--json")).stdout);
    const file = path.join(work, "dataflow.json");
    const definition = (name: string, status?: string) => ({
      name,
      accountId: (accounts as { id: string }[])[0]?.id,
      details: {},
      segments: [{ segmentId: "french", schedule: { frequency: "daily", time: "06:00", timezone: "UTC" } }],
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" }, target: "email" }] },
      ...(status ? { status } : {}),
    });
    fs.writeFileSync(file, JSON.stringify(definition("French", "enabled")));
    const created = await herald(dataDir, "dataflows", "create", "--file", file);
    const id = /created dataflow (\S+) \(French\), enabled/.exec(created.stdout)?.[1] as string;
    expect(id).toBeTruthy();
    // An edit without a status keeps the dataflow active.
    fs.writeFileSync(file, JSON.stringify(definition("French, renamed")));
    const updated = await herald(dataDir, "dataflows", "update", id, "--file", file);
    expect(updated.stdout).toBe(`updated dataflow ${id} (French, renamed), enabled\n`);

    const triggered = await herald(dataDir, "runs", "trigger", id);
    expect(triggered.code).toBe(0);
    expect(triggered.stdout).toMatch(/ succeeded .* received 1, activated 1/);
    expect(fs.readdirSync(work).filter((f) => f.endsWith(".csv"))).toHaveLength(1);
    const runId = /^(\S+) +succeeded/m.exec(triggered.stdout)?.[1];
    const rerun = await herald(dataDir, "runs", "rerun", runId ?? "");
    expect(rerun.stdout).toMatch(/ succeeded .* received 1, activated 1/);
    // Exports started from the CLI are audited as the API's are, with the actor "cli".
    const { store } = await openStore(loadConfig({ dataDir }));
    const audited = await store
      .query<{ action: string; resource_id: string }>(
        "prod",
        "SELECT action, resource_id FROM audit_log WHERE sandbox = $sandbox AND actor = 'cli' AND action IN ('trigger', 'rerun') ORDER BY occurred_at",
      )
      .finally(() => store.close());
    expect(audited).toEqual([
      { action: "trigger", resource_id: id },
      { action: "rerun", resource_id: runId },
    ]);

    const today = new Date().toISOString().slice(0, 10);
    const listed = await herald(dataDir, "runs", "list", "--status", "succeeded", "--since", today, "--json");
    expect((JSON.parse(listed.stdout) as { dataflowId: string }[]).map((r) => r.dataflowId)).toEqual([
      id,
      id,
    ]);
    const none = await herald(dataDir, "runs", "list", "--until", today, "--json");
    expect(JSON.parse(none.stdout)).toEqual([]);
    const vague = await herald(dataDir, "runs", "list", "--since", "yesterday", "--limit", "0");
    expect(vague.code).toBe(1);
    expect(vague.stderr).toMatch(/--since: expected an ISO 8601 time.*--limit: /s);
  });

  it("updates a segment's name, description and definition, as text or a JSON AST", async () => {
    const segments = (...args: string[]) => herald(dataDir, "segments", ...args);
    const created = await segments(
      ...["create", "--id", "gold", "--name", "Gold"],
      "--definition",
      "loyalty.points > 1",
    );
    expect(created.code).toBe(0);
    const renamed = await segments(
      ...["update", "gold", "--name", "Gold and platinum", "--description", "Top tiers"],
      ...["--definition", 'loyalty.tier in ["gold", "platinum"]'],
    );
    expect(renamed.stdout).toMatch(
      /^gold\s+Gold and platinum .*\n\s+loyalty\.tier in \["gold", "platinum"\]\n$/,
    );

    const file = path.join(work, "gold.json");
    const points = { kind: "field", path: "loyalty.points" };
    const ast = {
      version: 1,
      condition: { kind: "compare", operand: points, op: ">", value: { type: "number", value: 100 } },
    };
    fs.writeFileSync(file, JSON.stringify(ast));
    expect((await segments("update", "gold", "--file", file)).code).toBe(0);
    expect(JSON.parse((await segments("show", "gold")).stdout)).toMatchObject({
      name: "Gold and platinum",
      description: "Top tiers",
      definition: "loyalty.points > 100",
    });

    const invalid = await segments("update", "gold", "--definition", 'loyalty.points > "many"');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/line 1, column 18: cannot compare an integer with a string/);
  });
});
