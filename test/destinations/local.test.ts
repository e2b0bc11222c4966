import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createAccount, destinationDefinitions, listAccounts } from "../../src/destinations/index.ts";
import { localDestination } from "../../src/destinations/local/index.ts";
import { STALE_TEMPORARY_AGE_MS, TEMPORARY_PREFIX } from "../../src/destinations/temporary-names.ts";
import type { FileSession } from "../../src/destinations/types.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { bodyOf, failingBody, pausingBody, randomFile } from "../support/upload-bodies.ts";
import { accountDeps } from "./account-deps.ts";

const run = promisify(execFile);
/** Polling for a file to appear: generous, the machine may be busy. */
const WAIT = { timeout: 10_000, interval: 10 };
const connector = localDestination.connector;
if (connector.kind !== "file") throw new Error("the local destination is a file connector");

describe("Local folder connector", () => {
  let root: string;
  let session: FileSession | undefined;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-local-"));
    fs.mkdirSync(path.join(root, "exports"));
  });
  afterEach(async () => {
    await session?.close();
    session = undefined;
    fs.rmSync(root, { recursive: true, force: true });
  });

  const open = async (folderPath = "exports") => {
    session = await connector.open({ root }, { folderPath });
    return session;
  };
  const rawEntries = () => fs.readdirSync(path.join(root, "exports")).sort();

  it("validates an existing writable folder and leaves no probe behind", async () => {
    await expect(connector.validate({ root }, { folderPath: "exports" })).resolves.toBeUndefined();
    await expect(connector.validate({ root }, {})).resolves.toBeUndefined();
    expect(rawEntries()).toEqual([]);
  });

  it("names the missing root or folder", async () => {
    await expect(connector.validate({ root: path.join(root, "gone") }, {})).rejects.toMatchObject({
      kind: "not_found",
      message: expect.stringContaining(`root '${path.join(root, "gone")}' does not exist`),
    });
    await expect(connector.validate({ root }, { folderPath: "missing/daily" })).rejects.toMatchObject({
      kind: "not_found",
      message: expect.stringContaining("folderPath 'missing/daily'"),
    });
    fs.writeFileSync(path.join(root, "a-file"), "x");
    await expect(connector.validate({ root }, { folderPath: "a-file" })).rejects.toMatchObject({
      kind: "not_found",
      message: expect.stringContaining("is a file, not a folder"),
    });
  });

  it("refuses folder paths that leave the root, by '..' or by a symbolic link", async () => {
    expect(localDestination.detailsSchema.safeParse({ folderPath: "../etc" }).success).toBe(false);
    expect(localDestination.detailsSchema.safeParse({ folderPath: "/etc" }).success).toBe(false);
    expect(localDestination.connectionSchema.safeParse({ root: "relative/dir" }).success).toBe(false);
    fs.symlinkSync(os.tmpdir(), path.join(root, "escape"));
    await expect(connector.validate({ root }, { folderPath: "escape" })).rejects.toMatchObject({
      kind: "forbidden",
      message: expect.stringContaining("leads outside the root"),
    });
  });

  it("reports a folder the Herald process may not write to as forbidden", async () => {
    // Root writes anywhere, so the check runs in a child process as an unprivileged user.
    fs.chmodSync(root, 0o755);
    fs.chmodSync(path.join(root, "exports"), 0o555);
    const result = await validateAsUnprivilegedUser({ root }, { folderPath: "exports" });
    expect(result).toMatchObject({
      kind: "forbidden",
      code: "folder_not_writable",
      message: expect.stringContaining("folderPath 'exports'"),
    });
  });

  it("delivers a multi-megabyte file byte for byte and lists it", async () => {
    const data = randomFile(12 * 1024 * 1024 + 123);
    const files = await open();
    const put = await files.putFile("audience.csv", bodyOf(data));
    expect(put).toEqual({
      location: path.join(fs.realpathSync(root), "exports", "audience.csv"),
      bytes: data.length,
    });
    expect((await files.getFile("audience.csv")).equals(data)).toBe(true);
    expect(await files.listFiles()).toEqual(["audience.csv"]);
    expect(rawEntries()).toEqual(["audience.csv"]);
  });

  it("leaves nothing when the body fails halfway", async () => {
    const files = await open();
    const data = randomFile(8 * 1024 * 1024);
    await expect(files.putFile("broken.csv", failingBody(data, 3 * 1024 * 1024))).rejects.toThrow(
      "source failed halfway",
    );
    expect(rawEntries()).toEqual([]);
  });

  it("leaves nothing when the upload is aborted halfway", async () => {
    const files = await open();
    const body = pausingBody(randomFile(8 * 1024 * 1024), 4 * 1024 * 1024);
    const controller = new AbortController();
    const upload = files.putFile("aborted.csv", body.stream, { signal: controller.signal });
    await body.paused;
    await vi.waitFor(
      () => expect(rawEntries()).toContainEqual(expect.stringMatching(/^\.herald-tmp-/)),
      WAIT,
    );
    controller.abort();
    await expect(upload).rejects.toMatchObject({ name: "AbortError" });
    expect(rawEntries()).toEqual([]);
    await expect(
      files.putFile("late.csv", bodyOf(Buffer.from("x")), { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: "AbortError" });
    expect(rawEntries()).toEqual([]);
  });

  it("deletes a file in its folder, a missing one without error, and refuses a path", async () => {
    const files = await open();
    await files.putFile("old_2.csv", bodyOf(Buffer.from("x\n")));
    await files.putFile("kept.csv", bodyOf(Buffer.from("y\n")));
    await files.deleteFile("old_2.csv");
    await files.deleteFile("old_2.csv");
    expect(rawEntries()).toEqual(["kept.csv"]);
    await expect(files.deleteFile("../kept.csv")).rejects.toMatchObject({ kind: "validation" });
    expect(rawEntries()).toEqual(["kept.csv"]);
  });

  it("replaces an existing file atomically: readers see the old bytes until the new ones are complete", async () => {
    const files = await open();
    const before = randomFile(1024 * 1024);
    const after = randomFile(6 * 1024 * 1024);
    await files.putFile("daily.csv", bodyOf(before));
    const body = pausingBody(after, 3 * 1024 * 1024);
    const upload = files.putFile("daily.csv", body.stream);
    await body.paused;
    await vi.waitFor(() => expect(rawEntries()).toHaveLength(2), WAIT);
    expect(fs.readFileSync(path.join(root, "exports", "daily.csv")).equals(before)).toBe(true);
    expect(await files.listFiles()).toEqual(["daily.csv"]);
    body.resume();
    await expect(upload).resolves.toMatchObject({ bytes: after.length });
    expect((await files.getFile("daily.csv")).equals(after)).toBe(true);
    expect(rawEntries()).toEqual(["daily.csv"]);
  });

  it("cleans up stale temporaries of dead uploads, never an upload in progress", async () => {
    const files = await open();
    const folder = path.join(root, "exports");
    const dead = path.join(folder, `${TEMPORARY_PREFIX}0123456789ab-crashed.csv`);
    const recent = path.join(folder, `${TEMPORARY_PREFIX}ba9876543210-other-run.csv`);
    fs.writeFileSync(dead, "half a file");
    fs.writeFileSync(recent, "another run, still writing");
    const old = new Date(Date.now() - STALE_TEMPORARY_AGE_MS - 60_000);
    fs.utimesSync(dead, old, old);
    fs.writeFileSync(path.join(folder, "kept.csv"), "delivered");
    const body = pausingBody(randomFile(2 * 1024 * 1024), 1024 * 1024);
    const upload = files.putFile("in-progress.csv", body.stream);
    await body.paused;
    expect(await files.listFiles()).toEqual(["kept.csv"]);
    expect(await files.cleanupTemporaries()).toBe(1);
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(recent)).toBe(true);
    body.resume();
    await upload;
    expect(await files.listFiles()).toEqual(["in-progress.csv", "kept.csv"]);
  });

  it("refuses file names that are paths or temporaries, and names a missing file", async () => {
    const files = await open();
    await expect(files.putFile("../outside.csv", bodyOf(Buffer.from("x")))).rejects.toMatchObject({
      kind: "validation",
    });
    await expect(
      files.putFile(`${TEMPORARY_PREFIX}0123456789ab-x`, bodyOf(Buffer.from("x"))),
    ).rejects.toMatchObject({
      kind: "validation",
    });
    await expect(files.getFile("nothing.csv")).rejects.toMatchObject({
      kind: "not_found",
      message: expect.stringContaining("'nothing.csv'"),
    });
  });

  describe("accounts", () => {
    let accounts: Awaited<ReturnType<typeof accountDeps>> | undefined;
    afterEach(async () => {
      await accounts?.close();
    });

    it("validates before saving: a missing folder saves nothing, a good one is saved", async () => {
      const deps = await accountDeps(destinationDefinitions);
      accounts = deps;
      await expect(
        createAccount(deps, DEFAULT_SANDBOX, {
          destinationId: "local",
          name: "pickup",
          connection: { root },
          details: { folderPath: "not-there" },
        }),
      ).rejects.toMatchObject({
        kind: "not_found",
        message: expect.stringContaining("folderPath 'not-there'"),
      });
      await expect(
        createAccount(deps, DEFAULT_SANDBOX, {
          destinationId: "local",
          name: "pickup",
          connection: { root },
          details: { folderPath: "../up" },
        }),
      ).rejects.toMatchObject({
        kind: "validation",
        issues: [expect.objectContaining({ field: "details.folderPath" })],
      });
      expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "local",
        name: "pickup",
        connection: { root },
        details: { folderPath: "exports" },
      });
      expect(account).toMatchObject({ destinationId: "local", connection: { root }, secretsSet: [] });
      expect((await listAccounts(deps, DEFAULT_SANDBOX)).map((a) => a.name)).toEqual(["pickup"]);
    });
  });
});

/**
 * Runs `validate` in a child Node process that, when the tests run as root, drops to `nobody` once
 * the connector is loaded (so the checkout itself need not be readable by `nobody`).
 */
async function validateAsUnprivilegedUser(connection: unknown, details: unknown): Promise<unknown> {
  const moduleUrl = pathToFileURL(path.resolve("src/destinations/local/index.ts")).href;
  const script = `
    const { localDestination } = await import(${JSON.stringify(moduleUrl)});
    if (process.getuid() === 0) {
      process.setgroups([]);
      process.setgid(65534); // nobody's group (nogroup on Debian)
      process.setuid(65534); // nobody
    }
    try {
      await localDestination.connector.validate(${JSON.stringify(connection)}, ${JSON.stringify(details)});
      console.log(JSON.stringify({ ok: true }));
    } catch (error) {
      console.log(JSON.stringify({ kind: error.kind, code: error.code, message: error.message }));
    }`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script]);
  return JSON.parse(stdout.trim().split("\n").pop() ?? "null");
}
