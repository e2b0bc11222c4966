import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  CreateMultipartUploadCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAccount,
  type FileConnector,
  type FileSession,
  listAccounts,
  openAccountConnection,
} from "../../src/destinations/index.ts";
import { s3Destination } from "../../src/destinations/s3/index.ts";
import type { S3Connection, S3Details } from "../../src/destinations/s3/schemas.ts";
import { PART_SIZE } from "../../src/destinations/s3/session.ts";
import { STALE_TEMPORARY_AGE_MS, temporaryName } from "../../src/destinations/temporary-names.ts";
import { HeraldError } from "../../src/errors/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { type S3rverServer, startS3rver } from "../servers/s3rver.ts";
import { freePort } from "../support/postgres-cluster.ts";
import { accountDeps } from "./account-deps.ts";

/*
 * The S3 connector against s3rver on loopback. What s3rver cannot express, and how these tests
 * reach it anyway (see test/servers/s3rver.ts):
 * - it verifies the access key id but not the Signature V4 itself, so "wrong credentials" is a
 *   wrong access key id here; a wrong secret with a right key id is only caught by real S3
 *   (SignatureDoesNotMatch maps to the same `auth_failed`);
 * - it has no IAM policies: "permission denied" uses a read-only key that the test server refuses
 *   every write with S3's AccessDenied answer, in front of s3rver;
 * - ListMultipartUploads, ListParts and AbortMultipartUpload are answered by the test server from
 *   s3rver's own upload directory.
 */

const MiB = 1024 * 1024;
let s3: S3rverServer;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ["herald-test", "herald-other"] });
});
afterAll(async () => {
  await s3?.stop();
});

const connector = s3Destination.connector as FileConnector<S3Connection, S3Details>;

function connectionOf(overrides: Partial<S3Connection> = {}): S3Connection {
  return {
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    ...overrides,
  };
}

function rawClient(): S3Client {
  return new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
}

async function keysIn(bucket: string): Promise<string[]> {
  const client = rawClient();
  try {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (page.Contents ?? []).map((o) => o.Key ?? "").sort();
  } finally {
    client.destroy();
  }
}

/** `total` random-looking bytes in 1 MiB chunks, produced lazily; `chunks` keeps them for comparison. */
function randomBody(total: number, chunks: Buffer[] = []): Readable {
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += MiB) {
        const chunk = randomBytes(Math.min(MiB, total - sent));
        chunks.push(chunk);
        yield chunk;
      }
    })(),
  );
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

async function expectHeraldError(promise: Promise<unknown>, kind: HeraldError["kind"]): Promise<HeraldError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HeraldError);
  expect((error as HeraldError).kind).toBe(kind);
  return error as HeraldError;
}

describe("S3 validate", () => {
  it("accepts working credentials, a bucket and a folder, and leaves nothing behind", async () => {
    await connector.validate(connectionOf(), { bucket: "herald-test", folderPath: "validate/ok" });
    expect(await keysIn("herald-test")).not.toContainEqual(expect.stringMatching(/^validate\//));
  });

  it("rejects a wrong access key id as auth_failed without printing the secret", async () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const error = await expectHeraldError(
      connector.validate(connectionOf({ accessKeyId: "AKIAWRONGWRONGWRONG1", secretAccessKey: secret }), {
        bucket: "herald-test",
      }),
      "auth_failed",
    );
    expect(error.message).toContain("AKIAWRONGWRONGWRONG1");
    expect(error.message).toContain("InvalidAccessKeyId");
    expect(error.message).not.toContain(secret);
  });

  it("names the unreachable endpoint (a closed port) as unavailable", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const error = await expectHeraldError(
      connector.validate(connectionOf({ endpoint }), { bucket: "herald-test" }),
      "unavailable",
    );
    expect(error.message).toContain(endpoint);
    expect(error.message).toContain("ECONNREFUSED");
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("names a missing bucket as not_found", async () => {
    const error = await expectHeraldError(
      connector.validate(connectionOf(), { bucket: "no-such-bucket" }),
      "not_found",
    );
    expect(error.message).toContain("'no-such-bucket'");
    expect(error.issues).toEqual([{ field: "details.bucket", message: "does not exist" }]);
  });

  it("reports a key without write permission as forbidden, naming the folder", async () => {
    const error = await expectHeraldError(
      connector.validate(
        connectionOf({ accessKeyId: s3.readOnlyAccessKeyId, secretAccessKey: s3.readOnlySecretAccessKey }),
        { bucket: "herald-test", folderPath: "exports" },
      ),
      "forbidden",
    );
    expect(error.message).toContain("writing to s3://herald-test/exports/");
    expect(error.message).toContain("AccessDenied");
  });

  it("rejects invalid settings through the schemas, naming the field", () => {
    expect(s3Destination.detailsSchema.safeParse({ bucket: "Bad_Bucket" }).success).toBe(false);
    expect(s3Destination.detailsSchema.safeParse({ bucket: "192.168.1.1" }).success).toBe(false);
    expect(s3Destination.detailsSchema.safeParse({ bucket: "ok-bucket", folderPath: "a/../b" }).success).toBe(
      false,
    );
    const parsed = s3Destination.connectionSchema.safeParse({ ...connectionOf(), endpoint: "ftp://x" });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["endpoint"]);
  });
});

describe("S3 session", () => {
  let session: FileSession;
  beforeAll(async () => {
    session = await connector.open(connectionOf(), { bucket: "herald-test", folderPath: "/exports/daily/" });
  });
  afterAll(async () => {
    await session?.close();
  });

  it("uploads a 20 MiB file as a parallel multipart upload and reads it back", async () => {
    const chunks: Buffer[] = [];
    const size = 20 * MiB + 12_345;
    const requestsBefore = s3.requests.length;
    const result = await session.putFile("audience.bin", randomBody(size, chunks));
    expect(result).toEqual({ location: "s3://herald-test/exports/daily/audience.bin", bytes: size });

    const sent = s3.requests.slice(requestsBefore);
    const parts = sent.filter((r) => r === "PUT /herald-test/exports/daily/audience.bin?partNumber&uploadId");
    expect(parts).toHaveLength(Math.ceil(size / PART_SIZE));
    expect(sent).toContain("POST /herald-test/exports/daily/audience.bin?uploads");
    expect(sent).toContain("POST /herald-test/exports/daily/audience.bin?uploadId");

    const back = await session.getFile("audience.bin");
    expect(back.length).toBe(size);
    expect(sha256(back)).toBe(sha256(Buffer.concat(chunks)));
    expect(await s3.multipartUploads()).toEqual([]);
  });

  it("uploads a small file in one request, and an empty file", async () => {
    const requestsBefore = s3.requests.length;
    await session.putFile("small.csv", Readable.from(["id,email\n", "1,a@example.com\n"]));
    expect(s3.requests.slice(requestsBefore)).toEqual(["PUT /herald-test/exports/daily/small.csv"]);
    expect((await session.getFile("small.csv")).toString()).toBe("id,email\n1,a@example.com\n");

    expect(await session.putFile("empty.csv", Readable.from([]))).toEqual({
      location: "s3://herald-test/exports/daily/empty.csv",
      bytes: 0,
    });
    expect((await session.getFile("empty.csv")).length).toBe(0);
  });

  it("deletes an object in its folder, a missing one without error", async () => {
    await session.putFile("old_2.csv", Readable.from(["x\n"]));
    await session.deleteFile("old_2.csv");
    await session.deleteFile("old_2.csv");
    expect(await session.listFiles()).not.toContain("old_2.csv");
  });

  it("replaces an existing file only when the new one is complete", async () => {
    await session.putFile("replace.csv", Readable.from(["old\n"]));
    await session.putFile("replace.csv", Readable.from(["new\n"]));
    expect((await session.getFile("replace.csv")).toString()).toBe("new\n");
  });

  it("leaves nothing under the final name when the body fails halfway, and no multipart upload", async () => {
    await session.putFile("keep.csv", Readable.from(["previous export\n"]));
    const failing = Readable.from(
      (function* () {
        for (let i = 0; i < 20; i++) yield randomBytes(MiB);
        throw new Error("source query failed");
      })(),
    );
    await expect(session.putFile("broken.bin", failing)).rejects.toThrow("source query failed");
    // Parts were sent before the failure: the upload was multipart, and it was aborted.
    expect(s3.requests).toContain("PUT /herald-test/exports/daily/broken.bin?partNumber&uploadId");
    expect(s3.requests).toContain("DELETE /herald-test/exports/daily/broken.bin?uploadId");
    await expectHeraldError(session.getFile("broken.bin"), "not_found");
    expect(await session.listFiles()).not.toContain("broken.bin");
    expect(await s3.multipartUploads()).toEqual([]);
    expect(await session.cleanupTemporaries()).toBe(0);
  });

  it("leaves nothing and keeps the previous file when the upload is aborted", async () => {
    await session.putFile("aborted.bin", Readable.from(["previous version\n"]));
    const controller = new AbortController();
    let produced = 0;
    const endless = Readable.from(
      (function* () {
        for (;;) {
          produced += MiB;
          if (produced === 18 * MiB) controller.abort(new Error("run cancelled by the user"));
          yield randomBytes(MiB);
        }
      })(),
    );
    await expect(session.putFile("aborted.bin", endless, { signal: controller.signal })).rejects.toThrow(
      "run cancelled by the user",
    );
    expect(endless.destroyed).toBe(true);
    // The upload was multipart (its parts in flight are cancelled with the abort), and it was aborted.
    expect(s3.requests).toContain("POST /herald-test/exports/daily/aborted.bin?uploads");
    expect(s3.requests).toContain("DELETE /herald-test/exports/daily/aborted.bin?uploadId");
    expect((await session.getFile("aborted.bin")).toString()).toBe("previous version\n");
    expect(await s3.multipartUploads()).toEqual([]);

    // An already aborted signal sends nothing at all.
    const requestsBefore = s3.requests.length;
    await expect(
      session.putFile("never.bin", Readable.from(["x"]), {
        signal: AbortSignal.abort(new Error("too late")),
      }),
    ).rejects.toThrow("too late");
    expect(s3.requests.length).toBe(requestsBefore);
  });

  it("makes nothing visible when aborted after the whole body was read, its last part sent", async () => {
    await session.putFile("read-then-aborted.bin", Readable.from(["previous version\n"]));
    const controller = new AbortController();
    const partSent = "PUT /herald-test/exports/daily/read-then-aborted.bin?partNumber&uploadId";
    const requestsBefore = s3.requests.length;
    // Three parts: the last one is only cut, and sent, once the upload has read every byte.
    const parts = 3;
    const watch = setInterval(() => {
      const sent = s3.requests.slice(requestsBefore).filter((r) => r === partSent).length;
      if (sent === parts) controller.abort(new Error("run cancelled by the user"));
    }, 1);
    try {
      const body = randomBody((parts - 1) * PART_SIZE + MiB);
      await expect(
        session.putFile("read-then-aborted.bin", body, { signal: controller.signal }),
      ).rejects.toThrow("run cancelled by the user");
    } finally {
      clearInterval(watch);
    }
    expect(s3.requests.slice(requestsBefore)).not.toContain(
      "POST /herald-test/exports/daily/read-then-aborted.bin?uploadId",
    );
    expect((await session.getFile("read-then-aborted.bin")).toString()).toBe("previous version\n");
    expect(await s3.multipartUploads()).toEqual([]);
  });

  it("aborts the stale multipart uploads and temporaries a dead process left, and only those", async () => {
    const client = rawClient();
    try {
      const sendPart = (key: string, uploadId: string | undefined, partNumber: number) =>
        client.send(
          new UploadPartCommand({
            Bucket: "herald-test",
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: randomBytes(5 * MiB),
          }),
        );
      const leftover = async (key: string) => {
        const { UploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: "herald-test", Key: key }),
        );
        await sendPart(key, UploadId, 1);
        return UploadId;
      };
      await leftover("exports/daily/crashed.bin");
      const slowUploadId = await leftover("exports/daily/slow-but-alive.bin");
      await leftover("exports/daily/sub/other-folder.bin");
      await leftover("elsewhere/crashed.bin");
      const probe = `exports/daily/${temporaryName("write-check")}`;
      await client.send(
        new PutObjectCommand({ Bucket: "herald-test", Key: probe, Body: "", ContentLength: 0 }),
      );

      // Young leftovers may be another run's upload in progress: left alone.
      expect(await session.cleanupTemporaries()).toBe(0);
      expect(await s3.multipartUploads()).toHaveLength(4);
      expect(await session.listFiles()).not.toContain(probe.slice("exports/daily/".length));

      await s3.ageBucket(STALE_TEMPORARY_AGE_MS + 60_000);
      // Started long ago but still receiving parts (a long export): alive, left alone.
      await sendPart("exports/daily/slow-but-alive.bin", slowUploadId, 2);
      expect(await session.cleanupTemporaries()).toBe(2);
      expect((await s3.multipartUploads()).map((u) => u.key).sort()).toEqual([
        "elsewhere/crashed.bin",
        "exports/daily/slow-but-alive.bin",
        "exports/daily/sub/other-folder.bin",
      ]);
      expect(await keysIn("herald-test")).not.toContain(probe);
    } finally {
      client.destroy();
    }
  });

  it("lists the folder's files: not temporaries, not subfolders, not other folders", async () => {
    const listing = await connector.open(connectionOf(), { bucket: "herald-other", folderPath: "lists" });
    try {
      expect(await listing.listFiles()).toEqual([]);
      for (const name of ["b.csv", "a.csv", "c.csv.gz"]) await listing.putFile(name, Readable.from([name]));
      const client = rawClient();
      try {
        for (const key of [
          "lists/sub/deep.csv",
          "other/x.csv",
          "lists/",
          `lists/${temporaryName("x.csv")}`,
        ]) {
          await client.send(new PutObjectCommand({ Bucket: "herald-other", Key: key, Body: "x" }));
        }
        // More than one page (S3 returns at most 1,000 keys per listing).
        for (let i = 0; i < 1005; i += 15) {
          await Promise.all(
            Array.from({ length: Math.min(15, 1005 - i) }, (_, j) =>
              client.send(
                new PutObjectCommand({
                  Bucket: "herald-other",
                  Key: `many/part-${String(i + j).padStart(4, "0")}.csv`,
                  Body: "x",
                }),
              ),
            ),
          );
        }
      } finally {
        client.destroy();
      }
      expect(await listing.listFiles()).toEqual(["a.csv", "b.csv", "c.csv.gz"]);
      const many = await connector.open(connectionOf(), { bucket: "herald-other", folderPath: "many" });
      try {
        const names = await many.listFiles();
        expect(names).toHaveLength(1005);
        expect(names.at(-1)).toBe("part-1004.csv");
      } finally {
        await many.close();
      }
      await expectHeraldError(listing.getFile("missing.csv"), "not_found");
      await expectHeraldError(listing.putFile("../escape.csv", Readable.from(["x"])), "validation");
    } finally {
      await listing.close();
    }
  });

  it("maps a read-only key's upload to forbidden", async () => {
    const readOnly = await connector.open(
      connectionOf({ accessKeyId: s3.readOnlyAccessKeyId, secretAccessKey: s3.readOnlySecretAccessKey }),
      { bucket: "herald-test", folderPath: "exports/daily" },
    );
    try {
      const error = await expectHeraldError(
        readOnly.putFile("denied.csv", Readable.from(["x"])),
        "forbidden",
      );
      expect(error.message).toContain("s3://herald-test/exports/daily/denied.csv");
      expect(await readOnly.listFiles()).toContain("audience.bin");
    } finally {
      await readOnly.close();
    }
  });
});

describe("S3 key length", () => {
  it("refuses a key over 1024 bytes at upload, naming details.folderPath, and sends nothing", async () => {
    // Each segment fits s3rver's file names; together they make a folder no longer accepted.
    const folderPath = Array.from({ length: 4 }, (_, i) => `${i}`.repeat(200)).join("/");
    const session = await connector.open(connectionOf(), { bucket: "herald-test", folderPath });
    try {
      const sent = s3.requests.length;
      const error = await expectHeraldError(
        session.putFile(`${"n".repeat(220)}.csv`, Readable.from(["x"])),
        "validation",
      );
      expect(error.code).toBe("s3_key_too_long");
      expect(error.message).toContain("1028 bytes, over S3's 1024");
      expect(error.issues.map((issue) => issue.field)).toEqual(["details.folderPath"]);
      expect(s3.requests.slice(sent)).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it("bounds details.folderPath so that a 255-byte file name still fits", () => {
    const parse = (folderPath: string) =>
      s3Destination.detailsSchema.safeParse({ bucket: "ok-bucket", folderPath });
    expect(parse(`/${"é".repeat(384)}/`).success).toBe(true);
    const tooLong = parse(`${"é".repeat(384)}x`);
    expect(tooLong.error?.issues.map((issue) => [issue.path, issue.message])).toEqual([
      [
        ["folderPath"],
        "must be at most 768 bytes (UTF-8), leaving room for a 255-byte file name in S3's 1024-byte keys",
      ],
    ]);
  });

  it("fails, as not retryable, a key the test server cannot store, and the server lives on", async () => {
    // s3rver stores a key as files named after it: 249 characters and its suffix exceed a file
    // name's 255 bytes. The harness used to die of it; it now answers 501 NotImplemented.
    const session = await connector.open(connectionOf(), { bucket: "herald-test", folderPath: "long" });
    try {
      const error = await expectHeraldError(
        session.putFile(`${"k".repeat(245)}.csv`, Readable.from(["x"])),
        "validation",
      );
      expect(error.message).toContain("ENAMETOOLONG");
      expect(error.message).toContain("s3://herald-test/long/kkk");
      await session.putFile("short.csv", Readable.from(["x"]));
      expect(await session.listFiles()).toEqual(["short.csv"]);
    } finally {
      await session.close();
    }
  });
});

describe("S3 accounts", () => {
  let deps: Awaited<ReturnType<typeof accountDeps>>;
  beforeAll(async () => {
    deps = await accountDeps([s3Destination]);
  });
  afterAll(async () => deps?.close());

  it("saves an account only after its credentials and bucket check out, with the secret sealed", async () => {
    const failing = createAccount(deps, DEFAULT_SANDBOX, {
      destinationId: "amazon-s3",
      name: "wrong key",
      connection: connectionOf({ accessKeyId: "AKIAWRONGWRONGWRONG1" }),
      details: { bucket: "herald-test" },
    });
    await expectHeraldError(failing, "auth_failed");
    await expectHeraldError(
      createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "amazon-s3",
        name: "missing bucket",
        connection: connectionOf(),
        details: { bucket: "missing-bucket" },
      }),
      "not_found",
    );
    const tooLong = await expectHeraldError(
      createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "amazon-s3",
        name: "folder too long",
        connection: connectionOf(),
        details: { bucket: "herald-test", folderPath: "f".repeat(769) },
      }),
      "validation",
    );
    expect(tooLong.issues.map((issue) => issue.field)).toEqual(["details.folderPath"]);
    expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);

    const account = await createAccount(deps, DEFAULT_SANDBOX, {
      destinationId: "amazon-s3",
      name: "Exports bucket",
      connection: connectionOf(),
      details: { bucket: "herald-test", folderPath: "exports" },
    });
    expect(account.secretsSet).toEqual(["secretAccessKey"]);
    expect(account.connection).toEqual({
      accessKeyId: s3.accessKeyId,
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: true,
    });
    const { connection } = await openAccountConnection(deps, DEFAULT_SANDBOX, account.id);
    expect(connection).toEqual(connectionOf());
    expect((await listAccounts(deps, DEFAULT_SANDBOX)).map((a) => a.name)).toEqual(["Exports bucket"]);
  });
});
