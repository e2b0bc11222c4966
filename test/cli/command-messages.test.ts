import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { herald } from "../support/herald-cli.ts";

const run = promisify(execFile);

// What the command says when it is given too little or something wrong, and what `config` shows.
describe("herald's messages and help", { timeout: 180_000 }, () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-messages-cli-"));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("names the flag that gave an invalid setting, with its variable", async () => {
    const result = await herald(dataDir, "start", "--port", "abc");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("--port (HERALD_PORT): must be a number");
  });

  it("asks for accounts create's destination before its --name", async () => {
    const bare = await herald(dataDir, "accounts", "create");
    expect(bare.code).toBe(1);
    expect(bare.stderr).toBe("error: missing required argument 'destination'\n");
    const unnamed = await herald(dataDir, "accounts", "create", "local");
    expect(unnamed.stderr).toBe("error: required option '--name <name>' not specified\n");
  });

  it("lists only generate's own options, saying which are required", async () => {
    const help = await herald(dataDir, "generate", "--help");
    // herald() appends --data-dir: the help is printed before anything else reads it.
    expect(help.stdout).not.toMatch(/--data-dir|--log-level|--sandbox/);
    expect(help.stdout).toMatch(/--profiles <n> +number of profiles \(required\)/);
    expect(help.stdout).toMatch(/--out <dir> +output folder \(required\)/);
  });

  it("shows each setting's effective value and default, never a secret", async () => {
    const env = {
      HERALD_DATABASE_URL: "postgres://herald:s3cret-pw@db.example.com:5432/herald",
      HERALD_SECRET_KEY: "ab".repeat(32),
      HERALD_PORT: "9090",
    };
    // herald() sets its own environment: this one runs with secrets in it.
    const result = await run(process.execPath, [path.resolve("src/cli/main.ts"), "config"], {
      env: { ...process.env, ...env },
    });
    expect(result.stdout).toMatch(/^HERALD_PORT +9090 \(default 8080\) +HTTP port/m);
    expect(result.stdout).toMatch(/^HERALD_HOST +127\.0\.0\.1 \(default\) +Address/m);
    expect(result.stdout).toMatch(
      /^HERALD_DATABASE_URL +postgres:\/\/herald:\*\*\*@db\.example\.com:5432\/herald /m,
    );
    expect(result.stdout).toMatch(/^HERALD_SECRET_KEY +\(set, not shown\) /m);
    expect(result.stdout).not.toContain("s3cret-pw");
    expect(result.stdout).not.toContain("ab".repeat(32));
  });
});
