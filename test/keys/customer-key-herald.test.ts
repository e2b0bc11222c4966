import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listAudit } from "../../src/access/index.ts";
import { createDataflow, runSegmentExport } from "../../src/activation/index.ts";
import { createLogger, type Herald, openHerald } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import {
  createAccount,
  keyStatus,
  openAccountConnection,
  rotateSealedValues,
} from "../../src/destinations/index.ts";
import { ingestProfileRecords } from "../../src/profiles/index.ts";
import { loadSchema } from "../../src/schema/index.ts";
import {
  evaluateAndNotify,
  evaluateSegments,
  listStoredSegments,
  segmentDirectory,
} from "../../src/segments/index.ts";
import { createFrenchSegment, dataflowFor, FRENCH, fixtureProfile, sandbox } from "../support/activation.ts";
import { type KeyServices, startKeyServices } from "../support/customer-keys.ts";
import { heraldWithEnv } from "../support/herald-cli.ts";

/**
 * Herald with a customer-managed key, as `herald start` opens it: the key is checked at start,
 * every use of a sealed credential asks the key service, so a revocation stops exports at their
 * next run and a restored key brings them back without a restart.
 */
let services: KeyServices;
let dataDir = "";
const opened: Herald[] = [];

beforeAll(async () => {
  services = await startKeyServices();
});
afterAll(() => services?.close());
afterEach(async () => {
  for (const herald of opened.splice(0)) await herald.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

function newDataDir(): string {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-cmk-"));
  fs.mkdirSync(path.join(dataDir, "exports"));
  return dataDir;
}

const settingsFor = (provider: "aws-kms" | "azure-key-vault", keyId: string) => ({
  HERALD_KEY_PROVIDER: provider,
  HERALD_KEY_ID: keyId,
  ...(provider === "aws-kms" ? { HERALD_KMS_ENDPOINT: services.kms.endpoint } : {}),
});

/** Opens Herald on the data dir with the given key settings; its log lines are kept in `log`. */
async function open(env: Record<string, string> = {}) {
  const config = loadConfig({ dataDir }, env);
  const log: string[] = [];
  const sink = new PassThrough();
  sink.on("data", (line: Buffer) => log.push(line.toString("utf8")));
  const herald = await openHerald(config, createLogger(config, sink), services.clients);
  opened.push(herald);
  return { herald, log };
}

/** Creates local-folder accounts with a Herald opened on `env`'s key settings, then closes it. */
async function accountsSealedWith(env: Record<string, string>, ...names: string[]) {
  const before = await open(env);
  for (const name of names) {
    await createAccount(before.herald, sandbox, {
      destinationId: "local",
      name,
      connection: { root: path.join(dataDir, "exports") },
    });
  }
  await before.herald.close();
  opened.splice(opened.indexOf(before.herald), 1);
}

const keysOf = {
  "aws-kms": () => {
    const arn = services.kms.createKey();
    return {
      keyId: arn,
      revoke: () => services.kms.setState(arn, "disabled"),
      restore: () => services.kms.setState(arn, "enabled"),
      reason: /DisabledException/,
    };
  },
  "azure-key-vault": () => {
    const kid = services.vault.createKey("herald-credentials");
    return {
      keyId: kid,
      revoke: () => services.vault.setState(kid, "denied"),
      restore: () => services.vault.setState(kid, "enabled"),
      reason: /Forbidden: Caller is not authorized/,
    };
  },
};

describe.each(["aws-kms", "azure-key-vault"] as const)("Herald with HERALD_KEY_PROVIDER=%s", (provider) => {
  it("starts with a working key, and refuses to start with a revoked one, naming the key and the setting", async () => {
    newDataDir();
    const key = keysOf[provider]();
    const { herald } = await open(settingsFor(provider, key.keyId));
    expect(herald.keys).toMatchObject({ kind: provider, keyId: key.keyId });
    await herald.close();
    opened.length = 0;

    key.revoke();
    const refused = await open(settingsFor(provider, key.keyId)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: "key_unavailable" });
    expect((refused as Error).message).toContain(
      `The customer-managed key ${key.keyId} (HERALD_KEY_ID) refused:`,
    );
    expect((refused as Error).message).toMatch(key.reason);
    // The refused start left the store closed: the restored key opens it.
    key.restore();
    await open(settingsFor(provider, key.keyId));
  });

  it("revoked: the next export fails key_unavailable naming the key and writes nothing; restored: the next one succeeds, no restart", {
    timeout: 60_000,
  }, async () => {
    newDataDir();
    const key = keysOf[provider]();
    const { herald, log } = await open(settingsFor(provider, key.keyId));
    const schema = await loadSchema(herald.store, sandbox);
    await ingestProfileRecords(
      herald.store,
      schema,
      Array.from({ length: 40 }, (_, i) => fixtureProfile(i)),
    );
    await createFrenchSegment(herald.store);
    await evaluateSegments(herald.store, sandbox, schema, [FRENCH]);
    const folder = path.join(dataDir, "exports", "agency");
    fs.mkdirSync(folder);
    const account = await createAccount(herald, sandbox, {
      destinationId: "local",
      name: "drop",
      connection: { root: folder },
    });
    const dataflow = await createDataflow(herald, sandbox, dataflowFor(account.id));
    const exportNow = (hour: number) =>
      runSegmentExport(
        { ...herald, segments: segmentDirectory(herald.store), attempts: 2, backoffMs: 10 },
        sandbox,
        {
          dataflowId: dataflow.id,
          segmentId: FRENCH,
          trigger: "manual",
          scheduledFor: new Date(Date.UTC(2026, 10, 27, hour)),
        },
      );

    key.revoke();
    const failed = await exportNow(5);
    expect(failed.status).toBe("failed");
    expect(failed.files).toEqual([]);
    expect(failed.errors).toHaveLength(2);
    for (const [i, error] of failed.errors.entries()) {
      expect(error).toContain(
        `attempt ${i + 1}: The customer-managed key ${key.keyId} (HERALD_KEY_ID) refused:`,
      );
      expect(error).toMatch(key.reason);
      expect(error).toMatch(/restore access to it$/);
    }
    expect(fs.readdirSync(folder)).toEqual([]);
    // Segmentation stops too (REFERENCE): an evaluation asks the key first, and changes nothing.
    const evaluatedBefore = (await listStoredSegments(herald.store, sandbox))[0]?.lastEvaluatedAt;
    await expect(
      evaluateAndNotify(herald.store, sandbox, [FRENCH], { keys: herald.keys }),
    ).rejects.toMatchObject({ code: "key_unavailable" });
    expect((await listStoredSegments(herald.store, sandbox))[0]?.lastEvaluatedAt).toEqual(evaluatedBefore);

    key.restore();
    expect(await evaluateAndNotify(herald.store, sandbox, [FRENCH], { keys: herald.keys })).toHaveLength(1);
    const succeeded = await exportNow(6);
    expect(succeeded.errors).toEqual([]);
    expect(succeeded.status).toBe("succeeded");
    expect(succeeded.activated).toBeGreaterThan(0);
    expect(succeeded.files.length).toBeGreaterThan(0);
    expect(fs.readdirSync(folder).sort()).toEqual(succeeded.files.map((f) => f.name).sort());

    // Neither the logs nor the runs carry the sealed value's wrapped data key.
    const [row] = await herald.store.query<{ connection_sealed: string }>(
      sandbox,
      "SELECT connection_sealed FROM accounts WHERE sandbox = $sandbox",
    );
    const wrapped = JSON.parse(row?.connection_sealed ?? "{}").wk as string;
    expect(wrapped.length).toBeGreaterThan(40);
    expect([...log, ...failed.errors].join("\n")).not.toContain(wrapped);
  });
});

describe("moving from the local key to a customer-managed key", () => {
  it("opens local-sealed credentials through the kept local key, and `rotate` re-seals them to the customer's key", async () => {
    newDataDir();
    await accountsSealedWith({}, "first", "second");

    const arn = services.kms.createKey();
    const { herald } = await open(settingsFor("aws-kms", arn));
    expect(await keyStatus(herald)).toEqual({
      provider: "aws-kms",
      keyId: arn,
      sealedValues: [{ keyId: "local", values: 2, current: false }],
    });
    expect(await rotateSealedValues(herald)).toEqual({ resealed: 2, current: 0, failed: [] });
    expect((await keyStatus(herald)).sealedValues).toEqual([{ keyId: arn, values: 2, current: true }]);
    expect(await rotateSealedValues(herald)).toEqual({ resealed: 0, current: 2, failed: [] });
    await herald.close();
    opened.length = 0;

    // Without the local key the rotated credentials still open, through the customer's key only.
    fs.rmSync(path.join(dataDir, "keys", "local.key"));
    const again = await open(settingsFor("aws-kms", arn));
    const [row] = await again.herald.store.query<{ id: string }>(
      sandbox,
      "SELECT id FROM accounts WHERE sandbox = $sandbox",
    );
    const before = services.kms.calls.filter((c) => c === "Decrypt").length;
    await openAccountConnection(again.herald, sandbox, row?.id ?? "");
    expect(services.kms.calls.filter((c) => c === "Decrypt").length).toBe(before + 1);
  });

  it("moves from one Key Vault key version to the next: the earlier version opens, `rotate` re-seals", async () => {
    newDataDir();
    const name = "herald-versions";
    const first = services.vault.createKey(name);
    await accountsSealedWith(settingsFor("azure-key-vault", first), "drop");

    const second = services.vault.createKey(name);
    const { herald } = await open(settingsFor("azure-key-vault", second));
    expect(await rotateSealedValues(herald)).toEqual({ resealed: 1, current: 0, failed: [] });
    services.vault.setState(first, "disabled");
    const [row] = await herald.store.query<{ id: string }>(
      sandbox,
      "SELECT id FROM accounts WHERE sandbox = $sandbox",
    );
    await openAccountConnection(herald, sandbox, row?.id ?? "");
    expect((await keyStatus(herald)).sealedValues).toEqual([{ keyId: second, values: 1, current: true }]);
  });

  it("`herald keys status` and `herald keys rotate` as users run them", { timeout: 120_000 }, async () => {
    newDataDir();
    await accountsSealedWith({}, "drop");
    const arn = services.kms.createKey();
    const env = {
      ...settingsFor("aws-kms", arn),
      AWS_ACCESS_KEY_ID: "AKIDTEST",
      AWS_SECRET_ACCESS_KEY: "test-secret",
    };
    const status = await heraldWithEnv(env, dataDir, "keys", "status");
    expect(status.stderr).toBe("");
    expect(status.stdout).toBe(`provider aws-kms\nkey      ${arn}\n       1  sealed with local\n`);
    const rotated = await heraldWithEnv(env, dataDir, "keys", "rotate");
    expect(rotated).toMatchObject({
      code: 0,
      stdout: `1 value sealed anew with ${arn}, 0 already sealed with it\n`,
    });
    const { herald: after } = await open(env);
    const [entry] = await listAudit(after.store, sandbox, { resource: "keys", limit: 10 });
    expect(entry).toMatchObject({
      actor: "cli",
      action: "keys.rotate",
      details: { keyId: arn, resealed: 1, current: 0, failed: 0 },
    });
    await after.close();
    opened.splice(opened.indexOf(after), 1);
    const json = await heraldWithEnv(env, dataDir, "keys", "status", "--json");
    expect(JSON.parse(json.stdout)).toEqual({
      provider: "aws-kms",
      keyId: arn,
      sealedValues: [{ keyId: arn, values: 1, current: true }],
    });

    services.kms.setState(arn, "denied");
    const refused = await heraldWithEnv(env, dataDir, "keys", "status");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^error: The customer-managed key ${arn} \\(HERALD_KEY_ID\\) refused: AccessDeniedException: `,
      ),
    );
  });
});

describe("the key settings", () => {
  it("require HERALD_KEY_ID of the provider's shape, naming the setting", () => {
    expect(() => loadConfig({}, { HERALD_KEY_PROVIDER: "aws-kms" })).toThrow(
      /HERALD_KEY_ID: required with HERALD_KEY_PROVIDER=aws-kms: an AWS KMS key ARN/,
    );
    expect(() =>
      loadConfig(
        {},
        {
          HERALD_KEY_PROVIDER: "azure-key-vault",
          HERALD_KEY_ID: "arn:aws:kms:eu-west-1:111122223333:key/abc",
        },
      ),
    ).toThrow(
      /HERALD_KEY_ID: must be a Key Vault key URL https:\/\/<vault>.vault.azure.net\/keys\/<name>\/<version>/,
    );
    expect(() =>
      loadConfig(
        {},
        { HERALD_KEY_PROVIDER: "azure-key-vault", HERALD_KEY_ID: "http://vault.example.com/keys/k/1" },
      ),
    ).toThrow(/HERALD_KEY_ID: must be/);
    expect(() => loadConfig({}, { HERALD_KEY_PROVIDER: "gcp" })).toThrow(/HERALD_KEY_PROVIDER/);
    expect(loadConfig({}, {})).toMatchObject({ keyProvider: "local" });
  });
});
