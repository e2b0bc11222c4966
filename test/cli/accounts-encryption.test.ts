import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { herald } from "../support/herald-cli.ts";
import { recipientKeys } from "../support/pgp.ts";

// Each command opens the store in its own process: a few seconds each on a loaded machine.
describe("herald accounts: an encryption key from a file", { timeout: 180_000 }, () => {
  let dataDir: string;
  let work: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-pgp-"));
    work = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cli-pgp-work-"));
  });
  afterAll(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("sets the key at creation, names its fingerprint, and drops it with --no-encryption-key", async () => {
    const keyFile = path.join(work, "agency.asc");
    fs.writeFileSync(keyFile, recipientKeys().publicKey);
    const created = await herald(
      dataDir,
      ...["accounts", "create", "local", "--name", "pickup", "--field", `root=${work}`],
      ...["--encryption-key-file", keyFile],
    );
    expect(created).toMatchObject({ code: 0, stderr: "" });
    expect(created.stdout).toMatch(/to Local folder; files encrypted to [0-9A-F]{40}\n$/);
    const [account] = JSON.parse((await herald(dataDir, "accounts", "list", "--json")).stdout) as {
      id: string;
      encryption: { fingerprint: string } | null;
    }[];
    expect(created.stdout).toContain(account?.encryption?.fingerprint);

    const dropped = await herald(dataDir, "accounts", "update", account?.id ?? "", "--no-encryption-key");
    expect(dropped).toMatchObject({ code: 0, stdout: expect.stringContaining("changed encryptionKey") });
    expect(dropped.stdout).not.toContain("files encrypted to");

    const missing = await herald(
      dataDir,
      ...["accounts", "update", account?.id ?? "", "--encryption-key-file", path.join(work, "none.asc")],
    );
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("--encryption-key-file");
  });
});
