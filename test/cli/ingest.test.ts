import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { herald } from "../support/herald-cli.ts";

// `herald ingest` as users run it: a child process on the embedded store.
describe("herald ingest", { timeout: 180_000 }, () => {
  let dataDir: string;
  let work: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-ingest-cli-"));
    work = fs.mkdtempSync(path.join(os.tmpdir(), "herald-ingest-cli-work-"));
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("refuses an unknown --format, naming the flag and the valid values, before reading anything", async () => {
    const file = path.join(work, "people.csv");
    fs.writeFileSync(file, "personalEmail.address\nann@example.com\n");
    const result = await herald(dataDir, "ingest", file, "--format", "xml");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--format must be one of csv, jsonl, parquet (got 'xml')");
    expect(result.stdout).toBe("");
  });

  it("exits 2 when rows were rejected, names an issue's field once, and ends its progress at the rows received", async () => {
    const file = path.join(work, "some-bad.csv");
    fs.writeFileSync(
      file,
      "personalEmail.address,loyalty.points\nann@example.com,1\nbob@example.com,many\ncy@example.com,3\n",
    );
    const result = await herald(dataDir, "ingest", file);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain("3 received, 2 stored, 1 rejected");
    expect(result.stdout).toContain('  row 2 loyalty.points: expected an integer, got "many"\n');
    const progress = result.stderr
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("loading "));
    expect(progress.at(-1)).toBe(`loading ${file}: 3 rows`);

    const good = path.join(work, "good.csv");
    fs.writeFileSync(good, "personalEmail.address,loyalty.points\ndee@example.com,4\n");
    expect((await herald(dataDir, "ingest", good)).code).toBe(0);
    expect((await herald(dataDir, "ingest", path.join(work, "missing.csv"))).code).toBe(1);
    expect((await herald(dataDir, "ingest", "--help")).stdout).toContain("2 when some rows");
  });

  it("counts every issue in the summary and says when --json's list is capped", async () => {
    const file = path.join(work, "many-bad.csv");
    const bad = Array.from({ length: 1500 }, (_, i) => `p${i}@example.com,many`);
    fs.writeFileSync(file, `personalEmail.address,loyalty.points\n${bad.join("\n")}\nok@example.com,1\n`);
    const summary = await herald(dataDir, "ingest", file);
    expect(summary.stdout).toContain("1501 received, 1 stored, 1500 rejected");
    expect(summary.stdout).toContain("  ... and 1480 more (--json lists the first 1000)\n");

    const json = await herald(dataDir, "ingest", file, "--json");
    const report = JSON.parse(json.stdout) as {
      issues: unknown[];
      issueCount: number;
      issuesTruncated: boolean;
    };
    expect(report.issues).toHaveLength(1000);
    expect(report).toMatchObject({ issueCount: 1500, issuesTruncated: true });
  });
});
