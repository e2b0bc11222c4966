import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HttpRecorder, startHttpRecorder } from "../servers/http-recorder.ts";
import { herald } from "../support/herald-cli.ts";

interface ListedAccount {
  id: string;
  name: string;
  destinationId: string;
  recordsPerSecond: number | null;
}

// Each command opens the store in its own process: a few seconds each on a loaded machine.
describe("herald accounts update", { timeout: 180_000 }, () => {
  let dataDir: string;
  let work: string;
  let recorder: HttpRecorder;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-accounts-"));
    work = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-accounts-work-"));
    recorder = await startHttpRecorder({ auth: { type: "bearer", token: "tok-old-hunter2" } });
  });
  afterAll(async () => {
    await recorder?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });
  const accounts = async () =>
    JSON.parse((await herald(dataDir, "accounts", "list", "--json")).stdout) as ListedAccount[];

  it("renames, sets and clears the streaming rate, and rotates a token from a file, never printing it", async () => {
    const url = `${recorder.url}/ingest`;
    const created = await herald(
      dataDir,
      ...["accounts", "create", "http-api", "--name", "hook", "--field", `url=${url}`],
      ...["--field", "authType=bearer", "--field", "token=tok-old-hunter2"],
    );
    expect(created.stderr).toBe("");
    const id = (await accounts())[0]?.id ?? "";

    const updated = await herald(
      dataDir,
      "accounts",
      "update",
      id,
      "--name",
      "Hook",
      "--records-per-second",
      "200",
    );
    expect(updated).toMatchObject({
      code: 0,
      stdout: expect.stringContaining("changed name, recordsPerSecond"),
    });
    expect(await accounts()).toEqual([expect.objectContaining({ id, name: "Hook", recordsPerSecond: 200 })]);
    expect((await herald(dataDir, "accounts", "list")).stdout).toContain("Hook  (200 records/s)");

    const zero = await herald(dataDir, "accounts", "update", id, "--records-per-second", "0");
    expect(zero.code).toBe(1);
    expect(zero.stderr).toContain("--records-per-second");
    expect((await herald(dataDir, "accounts", "update", id)).stderr).toContain("nothing to change");

    const cleared = await herald(dataDir, "accounts", "update", id, "--no-records-per-second");
    expect(cleared.code).toBe(0);
    expect((await accounts())[0]?.recordsPerSecond).toBeNull();

    // Off a terminal nothing is asked: the secrets to give again are named.
    const unprompted = await herald(dataDir, "accounts", "update", id, "--new-credentials");
    expect(unprompted.code).toBe(1);
    expect(unprompted.stderr).toMatch(/missing connection field for HTTP API: token .*not a terminal/);

    recorder.setAuth({ type: "bearer", token: "tok-new-hunter2" });
    const file = path.join(work, "connection.json");
    fs.writeFileSync(file, JSON.stringify({ url, authType: "bearer", token: "tok-wrong-hunter2" }));
    const wrong = await herald(dataDir, "accounts", "update", id, "--connection-file", file);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("401");
    fs.writeFileSync(file, JSON.stringify({ url, authType: "bearer", token: "tok-new-hunter2" }));
    const rotated = await herald(dataDir, "accounts", "update", id, "--connection-file", file);
    expect(rotated).toMatchObject({ code: 0, stdout: expect.stringContaining("changed connection.token") });
    expect((await herald(dataDir, "accounts", "validate", id)).code).toBe(0);
    const printed = [created, updated, zero, cleared, unprompted, wrong, rotated]
      .map((r) => r.stdout + r.stderr)
      .join("\n");
    expect(`${printed}${JSON.stringify(await accounts())}`).not.toMatch(/tok-\w+-hunter2/);
  });

  it("refuses a rate for a file destination, naming the field", async () => {
    await herald(dataDir, "accounts", "create", "local", "--name", "drop", "--field", `root=${work}`);
    const local = (await accounts()).find((a) => a.destinationId === "local");
    const refused = await herald(dataDir, "accounts", "update", local?.id ?? "", "--records-per-second", "5");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("recordsPerSecond: Local folder receives files on a schedule");
    expect((await accounts()).find((a) => a.id === local?.id)?.recordsPerSecond).toBeNull();
  });
});
