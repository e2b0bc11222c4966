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
