import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { herald } from "../support/herald-cli.ts";

// Dataflows named by id or exact name, run lines that tell runs apart, and a segment's members
// exported whole: the `herald` command as a child process on the embedded store.
describe("herald dataflows, runs and members", { timeout: 300_000 }, () => {
  let dataDir: string;
  let work: string;
  let dataflowId: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-names-cli-"));
    work = fs.mkdtempSync(path.join(os.tmpdir(), "herald-names-cli-work-"));
    const people = path.join(work, "people.csv");
    // Ann has no points: a mandatory points column excludes her.
    fs.writeFileSync(
      people,
      'personalEmail.address,homeAddress.countryCode,loyalty.points\nann@example.com,FR,\nbob@example.com,FR,20\n"x,y@example.com",FR,5\n',
    );
    expect((await herald(dataDir, "ingest", people)).code).toBe(0);
    await herald(
      dataDir,
      ...["segments", "create", "--id", "french", "--name", "French"],
      "--definition",
      'homeAddress.countryCode = "FR"',
    );
    expect((await herald(dataDir, "segments", "evaluate", "french")).code).toBe(0);
    expect(
      (await herald(dataDir, "accounts", "create", "local", "--name", "pickup", "--field", `root=${work}`))
        .code,
    ).toBe(0);
    const accounts = JSON.parse((await herald(dataDir, "accounts", "list", "--json")).stdout) as {
      id: string;
    }[];
    const definition = (name: string) => ({
      name,
      accountId: accounts[0]?.id,
      details: {},
      segments: [{ segmentId: "french", schedule: { frequency: "daily", time: "06:00", timezone: "UTC" } }],
      mapping: {
        columns: [
          { source: { kind: "identity", namespace: "email" }, target: "email" },
          { source: { kind: "attribute", path: "loyalty.points" }, target: "points", mandatory: true },
        ],
      },
    });
    const file = path.join(work, "dataflow.json");
    for (const name of ["French points", "Twin", "Twin"]) {
      fs.writeFileSync(file, JSON.stringify(definition(name)));
      const created = await herald(dataDir, "dataflows", "create", "--file", file);
      expect(created.code).toBe(0);
      if (name === "French points") dataflowId = /created dataflow (\S+)/.exec(created.stdout)?.[1] as string;
    }
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("refuses an unknown dataflow by name, and a name two dataflows share listing their ids", async () => {
    const unknown = await herald(dataDir, "runs", "list", "--dataflow", "nope");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no dataflow has the id or the name 'nope'");
    const shown = await herald(dataDir, "dataflows", "show", "Nope either");
    expect(shown.code).toBe(1);
    expect(shown.stderr).toContain("no dataflow has the id or the name 'Nope either'");

    const twins = (
      JSON.parse((await herald(dataDir, "dataflows", "list", "--json")).stdout) as {
        id: string;
        name: string;
      }[]
    )
      .filter((d) => d.name === "Twin")
      .map((d) => d.id);
    const ambiguous = await herald(dataDir, "dataflows", "pause", "Twin");
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain(
      `2 dataflows are named 'Twin': give one of their ids (${twins.join(", ")})`,
    );
  });

  it("takes a dataflow's exact name, and prints runs with their dataflow, segment and exclusions in words", async () => {
    const shown = await herald(dataDir, "dataflows", "show", "French points");
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: dataflowId, name: "French points" });
    expect((await herald(dataDir, "dataflows", "activate", "French points")).stdout).toBe(
      `dataflow ${dataflowId}: enabled\n`,
    );

    const triggered = await herald(dataDir, "runs", "trigger", "French points");
    expect(triggered.code).toBe(0);
    expect(triggered.stdout).toMatch(
      /French points, segment french: received 3, activated 2, excluded 1 missing mandatory, 1 files/,
    );
    const listed = await herald(dataDir, "runs", "list", "--dataflow", "French points");
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      / succeeded .* French points, segment french: received 3, activated 2, excluded 1 missing mandatory, /,
    );
    expect(listed.stdout).not.toContain("{");
    const byId = await herald(dataDir, "runs", "list", "--dataflow", dataflowId, "--json");
    expect((JSON.parse(byId.stdout) as unknown[]).length).toBe(1);
  });

  it("exports every member as CSV, to stdout or to a file with progress on stderr", async () => {
    const all = await herald(dataDir, "segments", "members", "french", "--all");
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split("\n");
    expect(lines[0]).toBe("profile_id,status,changed_at");
    expect(lines).toHaveLength(4);
    for (const line of lines.slice(1))
      expect(line).toMatch(/^("[^"]*"|[^",]+),realized,\d{4}-\d\d-\d\dT.*Z$/);

    const out = path.join(work, "members.csv");
    const written = await herald(dataDir, "segments", "members", "french", "--all", "--out", out);
    expect(written.code).toBe(0);
    expect(fs.readFileSync(out, "utf8")).toBe(all.stdout);
    expect(written.stderr).toMatch(/exporting french to .*members\.csv: 3\/3 rows\n/);
    expect(written.stderr).toContain(`3 members written to ${out}\n`);

    const mixed = await herald(dataDir, "segments", "members", "french", "--all", "--limit", "5");
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain("--all exports every member: drop --limit");
  });

  it("says a --limit that is not a number is not one", async () => {
    const result = await herald(dataDir, "segments", "members", "french", "--limit", "abc");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("error: --limit: not a number ('abc')\n");
  });
});
