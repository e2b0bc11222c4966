import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { openHerald } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";

const run = promisify(execFile);
const main = path.resolve("src/cli/main.ts");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-deadletters-"));

async function herald(...args: string[]) {
  const { stdout } = await run(process.execPath, [main, ...args, "--data-dir", dataDir], {
    env: { ...process.env, HERALD_LOG_LEVEL: "silent" },
    timeout: 60_000,
  });
  return stdout;
}

/** A command expected to fail: its exit code and what it said. */
async function failing(...args: string[]) {
  return herald(...args).then(
    (stdout) => ({ code: 0, stdout, stderr: "" }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("herald deadletters", { timeout: 120_000 }, () => {
  it("lists, replays and discards dead letters, naming the ids it left alone", async () => {
    // Two messages that ran out of attempts, as the dispatcher leaves them.
    const h = await openHerald(loadConfig({ dataDir, logLevel: "silent" }, {}));
    try {
      for (const profile of ["ann@example.com", "bob@example.com"]) {
        await h.store.query(
          "prod",
          `INSERT INTO streaming_outbox (sandbox, dataflow_id, profile_id, payload, ingested_at, created_at, next_attempt_at, state, attempts, last_error, dead_at)
           VALUES ($sandbox, 'flow-1', $1, $2, $3, $3, $3, 'dead', 8, 'HTTP 503 from the endpoint', $3)`,
          [profile, JSON.stringify({ profileId: profile }), new Date()],
        );
      }
    } finally {
      await h.close();
    }
    const listed = JSON.parse(await herald("deadletters", "list", "--json"));
    expect(listed.total).toBe(2);
    expect(listed.items.map((d: { profileId: string }) => d.profileId)).toEqual([
      "ann@example.com",
      "bob@example.com",
    ]);
    expect(listed.items[0]).toMatchObject({ attempts: 8, lastError: "HTTP 503 from the endpoint" });
    const [ann, bob] = listed.items as { id: number }[];
    expect(await herald("deadletters", "discard", String(bob?.id))).toBe("1 dead letter discarded\n");
    // bob's again, and an id that never was: nothing to discard, both named.
    const again = await failing("deadletters", "discard", String(bob?.id), "999999");
    expect(again).toMatchObject({ code: 1, stdout: "0 dead letters discarded\n" });
    expect(again.stderr).toBe(`left alone (not dead letters of this sandbox): ${bob?.id}, 999999\n`);
    // Their dataflow 'flow-1' does not exist (deleted): replaying would only fail again.
    const orphan = await failing("deadletters", "replay", String(ann?.id));
    expect(orphan).toMatchObject({
      code: 1,
      stdout: "0 dead letters queued again (sent by the running server)\n",
    });
    expect(orphan.stderr).toMatch(new RegExp(`of a deleted dataflow\\): ${ann?.id}\\n$`));
    expect(await herald("deadletters", "list")).toMatch(/^1 dead letter\n/);
    const limit = await failing("deadletters", "list", "--limit", "abc");
    expect(limit.code).toBe(1);
    expect(limit.stderr).toMatch(/--limit: expected a whole number from 1 to 10000, got 'abc'/);

    const after = await openHerald(loadConfig({ dataDir, logLevel: "silent" }, {}));
    try {
      const rows = await after.store.queryGlobal<{ id: number; state: string; attempts: number }>(
        "SELECT id, state, attempts FROM streaming_outbox",
      );
      expect(rows.map((r) => ({ ...r, id: Number(r.id) }))).toEqual([
        { id: ann?.id, state: "dead", attempts: 8 },
      ]);
    } finally {
      await after.close();
    }
  });
});
