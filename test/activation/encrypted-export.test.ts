import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createDataflow, runSegmentExport } from "../../src/activation/index.ts";
import { type Account, createAccount, updateAccount } from "../../src/destinations/index.ts";
import type { Store } from "../../src/store/index.ts";
import {
  activationFixture,
  dataflowFor,
  expectedRows,
  FRENCH,
  parseCsvFiles,
  sandbox,
} from "../support/activation.ts";
import { apiFor } from "../support/api.ts";
import { gpgDecrypt, recipientKeys } from "../support/pgp.ts";
import { engines } from "../support/stores.ts";

/**
 * Files encrypted to the account's OpenPGP public key, opened by the real GnuPG as the recipient
 * does: `gpg --decrypt French-customers_20261120.csv.gz.gpg | gunzip`.
 */
const scheduledFor = new Date("2026-11-20T05:00:00Z");
const fileOptions = {
  format: "csv",
  csv: { delimiter: ";" },
  compression: "gzip",
  maxRowsPerFile: 40,
  maxFiles: 5,
  manifest: true,
};
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

let keys: ReturnType<typeof recipientKeys>;
beforeAll(() => {
  keys = recipientKeys();
});

describe.each(engines)("an account with an encryption key, local folder on %s", (engine) => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function setup() {
    const fixture = await activationFixture(engine);
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-pgp-"));
    fs.mkdirSync(path.join(root, "out"));
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "agency pickup",
      connection: { root },
      encryptionKey: keys.publicKey,
    });
    const dataflow = await createDataflow(
      fixture.deps,
      sandbox,
      dataflowFor(account.id, { details: { folderPath: "out" }, fileOptions }),
    );
    const run = () =>
      runSegmentExport(fixture.deps, sandbox, {
        dataflowId: dataflow.id,
        segmentId: FRENCH,
        trigger: "manual",
        scheduledFor,
      });
    const read = (name: string) => fs.readFileSync(path.join(root, "out", name));
    const delivered = () => fs.readdirSync(path.join(root, "out")).sort();
    return { fixture, account, run, read, delivered };
  }

  it("delivers files GnuPG decrypts to the audience, row for row, with a manifest of what was delivered", async () => {
    const { fixture, account, run, read, delivered } = await setup();
    expect(account.encryption?.fingerprint).toMatch(/^[0-9A-F]{40}$/);
    expect(account.encryption?.userIds).toEqual(["Pickup Agency <files@agency.example>"]);
    const result = await run();
    expect(result.status).toBe("succeeded");
    const names = result.files.map((f) => f.name);
    expect(names).toEqual([
      "French-customers_20261120.csv.gz.gpg",
      "French-customers_20261120_2.csv.gz.gpg",
      "French-customers_20261120_3.csv.gz.gpg",
    ]);
    expect(delivered()).toEqual([...names, "manifest-French-customers_20261120.json"].sort());
    const encrypted = names.map(read);
    // Nothing of the CSV shows through, gzipped or not.
    for (const file of encrypted) expect(file.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false);
    const manifest = JSON.parse(read("manifest-French-customers_20261120.json").toString()) as {
      files: { name: string; size: number; sha256: string }[];
    };
    expect(manifest.files.map((f) => [f.name, f.size, f.sha256])).toEqual(
      encrypted.map((bytes, i) => [names[i], bytes.length, sha256(bytes)]),
    );
    const rows = parseCsvFiles(gpgDecrypt(keys.privateKey, encrypted), ";", true);
    const expected = await expectedRows(fixture.store);
    expect(rows.map((r) => r.email)).toEqual(expected.map((r) => r.email));
    expect(rows.map((r) => r.last_name)).toEqual(expected.map((r) => r.last_name));
  });

  it("goes back to plain files once the key is removed, and the rerun removes the encrypted ones", async () => {
    const { fixture, account, run, read, delivered } = await setup();
    await run();
    const { account: plain, changed } = await updateAccount(fixture.deps, sandbox, account.id, {
      encryptionKey: null,
    });
    expect(changed).toEqual(["encryptionKey"]);
    expect(plain.encryption).toBeNull();
    const rerun = await run();
    expect(rerun.status).toBe("succeeded");
    expect(delivered()).toEqual([
      "French-customers_20261120.csv.gz",
      "French-customers_20261120_2.csv.gz",
      "French-customers_20261120_3.csv.gz",
      "manifest-French-customers_20261120.json",
    ]);
    const rows = parseCsvFiles(
      rerun.files.map((f) => read(f.name)),
      ";",
      true,
    );
    expect(rows).toHaveLength((await expectedRows(fixture.store)).length);
  });

  it("fails a run at once, writing nothing, when the key no longer encrypts (expired since it was saved)", async () => {
    const { fixture, account, run, delivered } = await setup();
    // The key expired after the account was saved: stored as it was, checked only then.
    const expired = recipientKeys({ expired: true });
    await fixture.store.query(
      sandbox,
      "UPDATE accounts SET encryption_key = $1 WHERE sandbox = $sandbox AND id = $2",
      [expired.publicKey, account.id],
    );
    const result = await run();
    expect(result.status).toBe("failed");
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(/encryptionKey: the key [0-9A-F]{40} cannot encrypt/);
    expect(delivered()).toEqual([]);
  });
});

describe("an encrypted Parquet export", () => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it("encrypts each Parquet file whole: GnuPG gives back a Parquet file", async () => {
    const fixture = await activationFixture("duckdb");
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-pgp-parquet-"));
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "lake",
      connection: { root },
      encryptionKey: keys.publicKey,
    });
    const dataflow = await createDataflow(
      fixture.deps,
      sandbox,
      dataflowFor(account.id, { details: { folderPath: "" }, fileOptions: { format: "parquet" } }),
    );
    const result = await runSegmentExport(fixture.deps, sandbox, {
      dataflowId: dataflow.id,
      segmentId: FRENCH,
      trigger: "manual",
      scheduledFor,
    });
    expect(result.files.map((f) => f.name)).toEqual(["French-customers_20261120.parquet.gpg"]);
    const [parquet] = gpgDecrypt(keys.privateKey, [
      fs.readFileSync(path.join(root, "French-customers_20261120.parquet.gpg")),
    ]);
    expect(parquet?.subarray(0, 4).toString()).toBe("PAR1");
    expect(parquet?.subarray(-4).toString()).toBe("PAR1");
    expect(result.activated).toBe((await expectedRows(fixture.store)).length);
  });
});

describe("encryption keys refused where they cannot apply", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it("refuses a key on a streaming destination and a private key, naming the field; shows only the key's summary", async () => {
    const fixture = await activationFixture("duckdb");
    store = fixture.store;
    const streaming = createAccount(fixture.deps, sandbox, {
      destinationId: "http-api",
      name: "hook",
      connection: { url: "http://127.0.0.1:9/hook" },
      encryptionKey: keys.publicKey,
    });
    await expect(streaming).rejects.toThrow(
      "encryptionKey: HTTP API receives records in real time; an encryption key applies to file destinations only",
    );
    const { app } = await apiFor(fixture.store);
    try {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-pgp-api-"));
      const privateKey = await app.inject({
        method: "POST",
        url: "/v1/accounts",
        payload: { destination: "local", name: "p", connection: { root }, encryptionKey: keys.privateKey },
      });
      expect(privateKey.statusCode).toBe(400);
      expect(privateKey.json().error.issues).toEqual([
        { field: "encryptionKey", message: expect.stringMatching(/^this is a private key/) },
      ]);
      expect(privateKey.body).not.toContain(keys.privateKey.split("\n")[3]);
      const created = await app.inject({
        method: "POST",
        url: "/v1/accounts",
        payload: { destination: "local", name: "p", connection: { root }, encryptionKey: keys.publicKey },
      });
      expect(created.statusCode).toBe(201);
      const account = created.json() as Account;
      expect(Object.keys(account.encryption ?? {}).sort()).toEqual([
        "algorithm",
        "expiresAt",
        "fingerprint",
        "userIds",
      ]);
      expect(created.body).not.toContain("PGP PUBLIC KEY BLOCK");
      fs.rmSync(root, { recursive: true, force: true });
    } finally {
      await app.close();
    }
  });
});
