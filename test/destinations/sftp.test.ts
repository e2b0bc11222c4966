import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  createAccount,
  destinationDefinitions,
  listAccounts,
  openAccountConnection,
} from "../../src/destinations/index.ts";
import { backgroundFlush, flushChannel } from "../../src/destinations/sftp/background-flush.ts";
import { connectSftp } from "../../src/destinations/sftp/connect.ts";
import { sftpDestination } from "../../src/destinations/sftp/index.ts";
import { writePipelined } from "../../src/destinations/sftp/pipelined-write.ts";
import { closeLink } from "../../src/destinations/sftp/session.ts";
import { STALE_TEMPORARY_AGE_MS, TEMPORARY_PREFIX } from "../../src/destinations/temporary-names.ts";
import type { FileSession } from "../../src/destinations/types.ts";
import { isRetryable } from "../../src/errors/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { type SshServer, startSshd } from "../servers/sshd.ts";
import { freePort } from "../support/postgres-cluster.ts";
import { bodyOf, failingBody, pausingBody, randomFile } from "../support/upload-bodies.ts";
import { accountDeps } from "./account-deps.ts";

const connector = sftpDestination.connector;
if (connector.kind !== "file") throw new Error("the SFTP destination is a file connector");
const MB = 1024 * 1024;
/** Polling for a file to appear: generous, the machine may be busy. */
const WAIT = { timeout: 10_000, interval: 10 };

// Needs root (the server's users are real accounts): without it startSshd fails, saying so.
describe("SFTP connector against OpenSSH's sshd", () => {
  let server: SshServer;
  let session: FileSession | undefined;
  beforeAll(async () => {
    server = await startSshd();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await session?.close();
    session = undefined;
    for (const name of fs.readdirSync(server.writable)) fs.rmSync(path.join(server.writable, name));
  });

  const passwordLogin = () => ({
    host: server.host,
    port: server.port,
    username: server.password.username,
    password: server.password.password,
  });
  const keyLogin = (key: { privateKey: string; passphrase?: string }) => ({
    host: server.host,
    port: server.port,
    username: server.keyUser.username,
    ...key,
  });
  /** The connection as createAccount would pass it: parsed by the destination's own schema. */
  const parse = (connection: unknown) => sftpDestination.connectionSchema.parse(connection);
  const onDisk = () => fs.readdirSync(server.writable).sort();
  const open = async (folderPath = server.writable) => {
    session = await connector.open(parse(passwordLogin()), { folderPath });
    return session;
  };

  describe("validation", () => {
    it("logs in with a password and leaves no probe file behind", async () => {
      await expect(
        connector.validate(parse(passwordLogin()), { folderPath: server.writable }),
      ).resolves.toBeUndefined();
      expect(onDisk()).toEqual([]);
    });

    it("logs in with keys: Ed25519 (OpenSSH), Ed25519 with a passphrase, RSA PEM with a passphrase", async () => {
      for (const key of [
        server.keyUser.ed25519,
        server.keyUser.ed25519Encrypted,
        server.keyUser.rsaPemEncrypted,
      ]) {
        await expect(
          connector.validate(parse(keyLogin(key)), { folderPath: server.writable }),
        ).resolves.toBeUndefined();
      }
    });

    it("checks keys and passphrases in the schema, naming the field and never quoting the key", () => {
      const issues = (connection: unknown) => {
        const parsed = sftpDestination.connectionSchema.safeParse(connection);
        return parsed.success
          ? []
          : parsed.error.issues.map((i) => ({ field: i.path.join("."), message: i.message }));
      };
      const encrypted = server.keyUser.ed25519Encrypted.privateKey;
      const pem = server.keyUser.rsaPemEncrypted.privateKey;
      expect(issues(keyLogin({ privateKey: encrypted }))).toEqual([
        { field: "passphrase", message: "the privateKey is encrypted: give its passphrase" },
      ]);
      expect(issues(keyLogin({ privateKey: encrypted, passphrase: "wrong" }))).toEqual([
        { field: "passphrase", message: "does not decrypt the privateKey" },
      ]);
      expect(issues(keyLogin({ privateKey: pem, passphrase: "wrong" }))).toEqual([
        { field: "passphrase", message: "does not decrypt the privateKey" },
      ]);
      const garbage = issues(keyLogin({ privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n" }));
      expect(garbage).toEqual([
        { field: "privateKey", message: expect.stringContaining("is not a private key") },
      ]);
      expect(issues({ host: "h", username: "u" })).toEqual([
        { field: "password", message: "give a password or a privateKey" },
      ]);
      expect(issues({ ...passwordLogin(), hostKeyFingerprint: "ab:cd:ef" })[0]?.field).toBe(
        "hostKeyFingerprint",
      );
    });

    it("accepts the pinned host key and refuses another, naming hostKeyFingerprint", async () => {
      const pinned = { ...passwordLogin(), hostKeyFingerprint: server.hostKeyFingerprint };
      await expect(
        connector.validate(parse(pinned), { folderPath: server.writable }),
      ).resolves.toBeUndefined();
      const other = `SHA256:${randomBytes(32).toString("base64").replace(/=+$/, "")}`;
      const error = await connector
        .validate(parse({ ...passwordLogin(), hostKeyFingerprint: other }), { folderPath: server.writable })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: "auth_failed", code: "sftp_host_key_mismatch" });
      expect((error as Error).message).toContain("hostKeyFingerprint");
      expect((error as Error).message).toContain(server.hostKeyFingerprint);
      expect((error as Error).message).not.toContain(server.password.password);
    });

    it("reports a wrong password or an unknown key as auth_failed without the secret", async () => {
      const error = await connector
        .validate(parse({ ...passwordLogin(), password: "not-the-password" }), {
          folderPath: server.writable,
        })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        kind: "auth_failed",
        code: "sftp_auth_failed",
        message: expect.stringContaining(
          `${server.host}:${server.port} refused the login of user '${server.password.username}'`,
        ),
      });
      expect((error as Error).message).not.toContain("not-the-password");
      await expect(
        connector.validate(parse(keyLogin(server.keyUser.stranger)), { folderPath: server.writable }),
      ).rejects.toMatchObject({ kind: "auth_failed", code: "sftp_auth_failed" });
    });

    it("reports a closed port, an unknown host and a silent server as unavailable, naming host:port", async () => {
      const closed = await freePort();
      await expect(
        connector.validate(parse({ ...passwordLogin(), port: closed }), { folderPath: server.writable }),
      ).rejects.toMatchObject({
        kind: "unavailable",
        code: "sftp_unreachable",
        message: expect.stringContaining(`127.0.0.1:${closed} refused the connection`),
      });
      await expect(
        connector.validate(parse({ ...passwordLogin(), host: "no-such-host.invalid" }), {}),
      ).rejects.toMatchObject({
        kind: "unavailable",
        code: "sftp_unknown_host",
        message: expect.stringContaining(`no-such-host.invalid:${server.port}`),
      });
      // A server that accepts TCP connections and never speaks SSH.
      const silent = net.createServer(() => {});
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const silentPort = (silent.address() as net.AddressInfo).port;
      try {
        await expect(
          connector.validate(parse({ ...passwordLogin(), port: silentPort, connectTimeoutSeconds: 1 }), {}),
        ).rejects.toMatchObject({
          kind: "unavailable",
          code: "sftp_timeout",
          message: expect.stringContaining(
            `127.0.0.1:${silentPort} did not complete the SSH login within 1 s`,
          ),
        });
      } finally {
        silent.close();
      }
    });

    it("reports a missing folder as not_found and a read-only one as forbidden, naming folderPath", async () => {
      const missing = path.join(server.writable, "nope");
      await expect(connector.validate(parse(passwordLogin()), { folderPath: missing })).rejects.toMatchObject(
        {
          kind: "not_found",
          code: "folder_not_found",
          message: `folderPath '${missing}' on ${server.host}:${server.port} does not exist`,
        },
      );
      fs.writeFileSync(path.join(server.writable, "plain-file"), "x");
      await expect(
        connector.validate(parse(passwordLogin()), { folderPath: path.join(server.writable, "plain-file") }),
      ).rejects.toMatchObject({
        kind: "not_found",
        message: expect.stringContaining("is a file, not a folder"),
      });
      await expect(
        connector.validate(parse(keyLogin(server.keyUser.ed25519)), { folderPath: server.readOnly }),
      ).rejects.toMatchObject({
        kind: "forbidden",
        code: "folder_not_writable",
        message: `Writing to folderPath '${server.readOnly}' on ${server.host}:${server.port}: permission denied`,
      });
    });

    it("fails a folder name too long for the server at once (BAD_MESSAGE), not as a retryable outage", async () => {
      const tooLong = path.join(server.writable, "x".repeat(300));
      const error = await connector.validate(parse(passwordLogin()), { folderPath: tooLong }).catch((e) => e);
      expect(error).toMatchObject({
        kind: "validation",
        code: "sftp_bad_message",
        message: expect.stringContaining(
          `folderPath '${tooLong}' on ${server.host}:${server.port}: the server refused`,
        ),
      });
      expect(isRetryable(error)).toBe(false);
    });
  });

  describe("delivery", () => {
    it("delivers a multi-megabyte file byte for byte, from chunks of any size", async () => {
      const files = await open();
      const data = randomFile(24 * MB + 17);
      const put = await files.putFile("audience.csv", bodyOf(data, 100_000));
      expect(put).toEqual({ location: path.join(server.writable, "audience.csv"), bytes: data.length });
      expect(fs.readFileSync(path.join(server.writable, "audience.csv")).equals(data)).toBe(true);
      expect((await files.getFile("audience.csv")).equals(data)).toBe(true);
      // Tiny chunks are gathered into full write requests; an empty body makes an empty file.
      const small = randomFile(300_001);
      await files.putFile("small.csv", bodyOf(small, 1_000));
      await files.putFile("empty.csv", bodyOf(Buffer.alloc(0)));
      expect((await files.getFile("small.csv")).equals(small)).toBe(true);
      expect((await files.getFile("empty.csv")).length).toBe(0);
      expect(await files.listFiles()).toEqual(["audience.csv", "empty.csv", "small.csv"]);
      expect(onDisk()).toEqual(["audience.csv", "empty.csv", "small.csv"]);
    });

    it("deletes a file in its folder, a missing one without error", async () => {
      const files = await open();
      await files.putFile("old_2.csv", bodyOf(Buffer.from("x\n")));
      await files.putFile("kept.csv", bodyOf(Buffer.from("y\n")));
      await files.deleteFile("old_2.csv");
      await files.deleteFile("old_2.csv");
      expect(onDisk()).toEqual(["kept.csv"]);
      await files.deleteFile("kept.csv");
    });

    it("leaves nothing when the body fails halfway", async () => {
      const files = await open();
      const upload = files.putFile("broken.csv", failingBody(randomFile(16 * MB), 6 * MB));
      await expect(upload).rejects.toThrow("source failed halfway");
      expect(onDisk()).toEqual([]);
      expect(await files.listFiles()).toEqual([]);
    });

    it("leaves nothing when the upload is aborted halfway", async () => {
      const files = await open();
      // Past 16 MiB: the second channel is flushing the temporary when the abort comes.
      const body = pausingBody(randomFile(24 * MB), 18 * MB);
      const controller = new AbortController();
      const upload = files.putFile("aborted.csv", body.stream, { signal: controller.signal });
      await body.paused;
      await vi.waitFor(() => expect(onDisk()).toContainEqual(expect.stringMatching(/^\.herald-tmp-/)), WAIT);
      controller.abort();
      await expect(upload).rejects.toMatchObject({ name: "AbortError" });
      expect(onDisk()).toEqual([]);
      // The session stays usable after an abort.
      await files.putFile("after.csv", bodyOf(Buffer.from("still works\n")));
      expect(onDisk()).toEqual(["after.csv"]);
    });

    it("replaces an existing file atomically: readers see the old bytes until the new ones are complete", async () => {
      const files = await open();
      const before = randomFile(2 * MB);
      const after = randomFile(12 * MB);
      await files.putFile("daily.csv", bodyOf(before));
      const body = pausingBody(after, 5 * MB);
      const upload = files.putFile("daily.csv", body.stream);
      await body.paused;
      await vi.waitFor(() => expect(onDisk()).toHaveLength(2), WAIT);
      expect(fs.readFileSync(path.join(server.writable, "daily.csv")).equals(before)).toBe(true);
      expect(await files.listFiles()).toEqual(["daily.csv"]);
      body.resume();
      await expect(upload).resolves.toMatchObject({ bytes: after.length });
      expect((await files.getFile("daily.csv")).equals(after)).toBe(true);
      expect(onDisk()).toEqual(["daily.csv"]);
    });

    it("fails with unavailable when the connection drops mid-upload, and never hangs afterwards", async () => {
      const files = await open();
      // Past 16 MiB, so the background flush's channel drops too.
      const body = pausingBody(randomFile(24 * MB), 18 * MB);
      const upload = files.putFile("cut.csv", body.stream);
      await body.paused;
      await vi.waitFor(() => expect(onDisk()).toHaveLength(1), WAIT);
      await server.dropConnections();
      body.resume();
      await expect(upload).rejects.toMatchObject({ kind: "unavailable" });
      await expect(files.putFile("next.csv", bodyOf(Buffer.from("x")))).rejects.toMatchObject({
        kind: "unavailable",
        code: "sftp_connection_lost",
      });
      // The server kept the partial temporary: hidden from listings, removed once stale.
      const [leftover = ""] = onDisk();
      expect(leftover.startsWith(TEMPORARY_PREFIX)).toBe(true);
      const next = await open();
      expect(await next.listFiles()).toEqual([]);
      const old = new Date(Date.now() - STALE_TEMPORARY_AGE_MS - 1000);
      fs.utimesSync(path.join(server.writable, leftover), old, old);
      expect(await next.cleanupTemporaries()).toBe(1);
      expect(onDisk()).toEqual([]);
      await files.close();
    });

    it("cleans up stale temporaries of dead uploads, never an upload in progress", async () => {
      const files = await open();
      const dead = path.join(server.writable, `${TEMPORARY_PREFIX}0123456789ab-crashed.csv`);
      const recent = path.join(server.writable, `${TEMPORARY_PREFIX}ba9876543210-other-run.csv`);
      fs.writeFileSync(dead, "half a file");
      fs.writeFileSync(recent, "another run, still writing");
      const old = new Date(Date.now() - STALE_TEMPORARY_AGE_MS - 60_000);
      fs.utimesSync(dead, old, old);
      const body = pausingBody(randomFile(4 * MB), 2 * MB);
      const upload = files.putFile("in-progress.csv", body.stream);
      await body.paused;
      expect(await files.listFiles()).toEqual([]);
      expect(await files.cleanupTemporaries()).toBe(1);
      expect(fs.existsSync(dead)).toBe(false);
      expect(fs.existsSync(recent)).toBe(true);
      body.resume();
      await upload;
      expect(await files.listFiles()).toEqual(["in-progress.csv"]);
    });

    it("flushes a large upload to disk through a second channel while it is written, byte for byte", async () => {
      const link = await connectSftp(parse(passwordLogin()));
      const channel = flushChannel(link);
      try {
        const remote = path.join(server.writable, "flushed.bin");
        const data = randomFile(12 * MB + 5);
        const handle = await new Promise<Buffer>((resolve, reject) =>
          link.sftp.open(remote, "w", (error, h) => (error ? reject(error) : resolve(h))),
        );
        const flushing = backgroundFlush(channel, remote, { startAfterBytes: 2 * MB, everyBytes: MB });
        const seen: number[] = [];
        const body = pausingBody(data, 6 * MB, MB + 3);
        const writing = writePipelined(link, handle, body.stream, {
          onWritten: (bytes) => {
            seen.push(bytes);
            flushing.written(bytes);
          },
        });
        // Paused at 6 MB: the flush started once 2 MB were written completes while nothing is sent
        // (a slow one is followed by another, since 6 MB are written by then: one at least).
        await body.paused;
        await vi.waitFor(() => expect(flushing.flushed()).toBeGreaterThanOrEqual(1), WAIT);
        body.resume();
        expect(await writing).toBe(data.length);
        expect(seen.at(-1)).toBe(data.length);
        expect(await flushing.stop()).toBeGreaterThanOrEqual(1);
        await new Promise<void>((resolve, reject) =>
          link.sftp.close(handle, (error) => (error ? reject(error) : resolve())),
        );
        expect(fs.readFileSync(remote).equals(data)).toBe(true);
        // Small files never open the second channel; a refused channel only turns flushing off.
        const small = backgroundFlush(channel, remote);
        small.written(MB);
        expect(await small.stop()).toBe(0);
        const refused = backgroundFlush({ get: async () => undefined, close() {} }, remote, {
          startAfterBytes: 1,
        });
        refused.written(MB);
        expect(await refused.stop()).toBe(0);
      } finally {
        channel.close();
        await closeLink(link);
      }
    });

    it("refuses an upload into a folder the user may not write, and names a missing file", async () => {
      const files = await open(server.readOnly);
      await expect(files.putFile("nope.csv", bodyOf(Buffer.from("x")))).rejects.toMatchObject({
        kind: "forbidden",
        message: expect.stringContaining("permission denied"),
      });
      await expect(files.getFile("nothing.csv")).rejects.toMatchObject({
        kind: "not_found",
        message: expect.stringContaining("'nothing.csv'"),
      });
      await expect(open(path.join(server.writable, "gone"))).rejects.toMatchObject({ kind: "not_found" });
    });
  });

  describe("accounts", () => {
    let accounts: Awaited<ReturnType<typeof accountDeps>> | undefined;
    afterEach(async () => {
      await accounts?.close();
    });

    it("validates before saving: wrong credentials save nothing; good ones are saved with secrets sealed", async () => {
      const deps = await accountDeps(destinationDefinitions);
      accounts = deps;
      const create = (connection: Record<string, unknown>, folderPath = server.writable) =>
        createAccount(deps, DEFAULT_SANDBOX, {
          destinationId: "sftp",
          name: "partner drop",
          connection,
          details: { folderPath },
        });
      const wrong = await create({ ...passwordLogin(), password: "wrong-password" }).catch((e: unknown) => e);
      expect(wrong).toMatchObject({ kind: "auth_failed" });
      expect(JSON.stringify({ ...(wrong as object), message: (wrong as Error).message })).not.toContain(
        "wrong-password",
      );
      await expect(create(passwordLogin(), server.readOnly)).rejects.toMatchObject({ kind: "forbidden" });
      await expect(create({ ...passwordLogin(), port: undefined, username: "" })).rejects.toMatchObject({
        kind: "validation",
        issues: [expect.objectContaining({ field: "connection.username" })],
      });
      expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);

      const account = await create(passwordLogin());
      expect(account).toMatchObject({
        destinationId: "sftp",
        connection: { host: server.host, port: server.port, username: server.password.username },
        secretsSet: ["password"],
      });
      expect(JSON.stringify(account)).not.toContain(server.password.password);
      const { connection } = await openAccountConnection(deps, DEFAULT_SANDBOX, account.id);
      expect(connection.password).toBe(server.password.password);
      expect((await listAccounts(deps, DEFAULT_SANDBOX)).map((a) => a.name)).toEqual(["partner drop"]);
    });
  });
});
