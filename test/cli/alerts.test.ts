import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { herald } from "../support/herald-cli.ts";

// Each command opens the store in its own process: a few seconds each on a loaded machine.
describe("herald alerts", { timeout: 180_000 }, () => {
  let dataDir: string;
  let recorder: HttpRecorder;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-alerts-"));
    recorder = await startHttpRecorder();
  });
  afterAll(async () => {
    await recorder?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("subscribes an HTTP API account to run events, lists, shows and deletes the subscription", async () => {
    const account = await herald(
      dataDir,
      ...["accounts", "create", "http-api", "--name", "ops", "--field", `url=${recorder.url}/alerts`],
    );
    expect(account.code).toBe(0);
    const accountId = /connected account (\S+)/.exec(account.stdout)?.[1] ?? "";
    const created = await herald(
      dataDir,
      ...["alerts", "create", "--name", "on call", "--account", accountId],
      ...["--event", "run.failed", "--event", "run.delayed", "--delayed-after-minutes", "90"],
    );
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout).toContain(
      `on call: run.failed, run.delayed to account ${accountId} (every dataflow); delayed after 90 min, skipped rate above 1%`,
    );
    const id = created.stdout.split(" ")[0] ?? "";
    expect((await herald(dataDir, "alerts", "list")).stdout).toContain(id);
    expect((await herald(dataDir, "alerts", "show", id, "--json")).stdout).toContain('"deliveries": []');
    const wrong = await herald(
      dataDir,
      ...["alerts", "create", "--name", "x", "--account", accountId, "--event", "run.exploded"],
    );
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("events.0");
    expect((await herald(dataDir, "alerts", "delete", id)).stdout).toBe(`deleted alert subscription ${id}\n`);
    expect((await herald(dataDir, "alerts", "list")).stdout).toBe("");
  });
});
