import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-warnings-"));

/** The `herald` command in its own process on the embedded store; a non-zero exit rejects. */
const herald = (...args: string[]) =>
  run(process.execPath, [path.resolve("src/cli/main.ts"), ...args, "--data-dir", dataDir], {
    env: { ...process.env, HERALD_LOG_LEVEL: "silent" },
    timeout: 60_000,
  });

describe("segment warnings on the command line", { timeout: 180_000 }, () => {
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("prints each warning on stderr and still saves the segment, exiting 0", async () => {
    const events = path.join(dataDir, "events.csv");
    fs.writeFileSync(
      events,
      `type,timestamp,identity.email\ncommerce.purchases,${new Date().toISOString()},ann@example.com\n`,
    );
    expect((await herald("ingest", "--kind", "events", events)).stdout).toMatch(/1 stored/);

    const rule = (type: string) => `count(${type} within last 30 days) > 0`;
    const created = await herald(
      "segments",
      "create",
      "--name",
      "Buyers",
      "--definition",
      rule("commerce.purchase"),
    );
    expect(created.stdout).toMatch(/^buyers +Buyers/);
    expect(created.stderr).toBe(
      "warning: commerce.purchase: no event of this type has been stored in this sandbox; did you mean commerce.purchases?\n",
    );
    const updated = await herald("segments", "update", "buyers", "--definition", rule("commerce.purchases"));
    expect(updated.stderr).toBe("");
  });
});
