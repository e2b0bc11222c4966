import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAccount,
  listAccounts,
  type OutboundRecord,
  type StreamSession,
} from "../../src/destinations/index.ts";
import { kinesisConnector as connector, kinesisDestination } from "../../src/destinations/kinesis/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { type KinesisTestServer, startKinesis } from "../servers/kinesalite.ts";
import { freePort } from "../support/postgres-cluster.ts";
import { accountDeps, errorOf, messageOf, numberedRecords, oversized } from "./account-deps.ts";

let kinesis: KinesisTestServer;
const connection = () => ({
  region: kinesis.region,
  accessKeyId: kinesis.accessKeyId,
  secretAccessKey: kinesis.secretAccessKey,
  endpoint: kinesis.endpoint,
});

async function withSession<T>(streamName: string, use: (session: StreamSession) => Promise<T>): Promise<T> {
  const session = await connector.open(connection(), { streamName });
  try {
    return await use(session);
  } finally {
    await session.close();
  }
}

beforeAll(async () => {
  kinesis = await startKinesis();
});
afterAll(async () => {
  await kinesis?.stop();
});

describe("Amazon Kinesis: validation", () => {
  it("accepts working keys and an existing stream, and creates an account with the secret sealed", async () => {
    await kinesis.createStream("audiences");
    const deps = await accountDeps([kinesisDestination]);
    try {
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "amazon-kinesis",
        name: "Kinesis prod",
        connection: connection(),
        details: { streamName: "audiences" },
      });
      expect(account.connection).toEqual({
        region: kinesis.region,
        accessKeyId: kinesis.accessKeyId,
        endpoint: kinesis.endpoint,
      });
      expect(account.secretsSet).toEqual(["secretAccessKey"]);
      expect(JSON.stringify(account)).not.toContain(kinesis.secretAccessKey);
    } finally {
      await deps.close();
    }
  });

  it("refuses a wrong secret key and saves no account", async () => {
    await kinesis.createStream("validate-secret");
    const deps = await accountDeps([kinesisDestination]);
    try {
      const error = await errorOf(
        createAccount(deps, DEFAULT_SANDBOX, {
          destinationId: "amazon-kinesis",
          name: "wrong",
          connection: { ...connection(), secretAccessKey: "not-the-secret" },
          details: { streamName: "validate-secret" },
        }),
      );
      expect(error.kind).toBe("auth_failed");
      expect(error.message).toContain("InvalidSignatureException");
      expect(error.message).not.toContain("not-the-secret");
      expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);
    } finally {
      await deps.close();
    }
  });

  it("refuses an unknown access key id", async () => {
    const error = await errorOf(
      connector.validate(
        { ...connection(), accessKeyId: "AKIAUNKNOWNKEY000000" },
        { streamName: "audiences" },
      ),
    );
    expect(error).toMatchObject({ kind: "auth_failed", code: "kinesis_auth_failed" });
    expect(error.message).toContain("UnrecognizedClientException");
  });

  it("names a missing stream", async () => {
    const error = await errorOf(connector.validate(connection(), { streamName: "no-such-stream" }));
    expect(error).toMatchObject({ kind: "not_found", code: "stream_not_found" });
    expect(error.message).toContain("'no-such-stream'");
    expect(error.message).toContain(kinesis.region);
  });

  it("reports an unreachable endpoint as unavailable", async () => {
    const port = await freePort();
    const error = await errorOf(
      connector.validate(
        { ...connection(), endpoint: `http://127.0.0.1:${port}` },
        { streamName: "audiences" },
      ),
    );
    expect(error).toMatchObject({ kind: "unavailable", code: "kinesis_unreachable" });
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("checks the connection fields before calling AWS", () => {
    const parsed = kinesisDestination.connectionSchema.safeParse({ ...connection(), region: "Europe" });
    expect(parsed.success).toBe(false);
    expect(kinesisDestination.detailsSchema.safeParse({ streamName: "a/b" }).success).toBe(false);
  });
});

describe("Amazon Kinesis: delivery", () => {
  it("sends 1,200 records in three PutRecords calls, partition key = profile, in order per profile", async () => {
    await kinesis.createStream("bulk", 4);
    const before = kinesis.putRecordsCalls.length;
    const batch = numberedRecords(1200, 37);
    const result = await withSession("bulk", (s) => s.sendBatch(batch));
    expect(result.failed).toEqual([]);
    expect(kinesis.putRecordsCalls.slice(before).map((c) => c.records)).toEqual([500, 500, 200]);
    const stored = await kinesis.readRecords("bulk");
    expect(stored).toHaveLength(1200);
    for (const r of stored) expect(r.partitionKey).toBe((r.data as { profileId: string }).profileId);
    const bySeq = new Map(stored.map((r) => [(r.data as { seq: number }).seq, r.data]));
    for (const [i, record] of batch.entries()) expect(bySeq.get(i)).toEqual(messageOf(record));
    // Within a shard, Kinesis orders by sequence number: each profile's records must come in seq order.
    const perKey = new Map<string, number[]>();
    for (const r of stored)
      perKey.set(r.partitionKey, [...(perKey.get(r.partitionKey) ?? []), (r.data as { seq: number }).seq]);
    expect(perKey.size).toBe(37);
    for (const seqs of perKey.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("keeps every PutRecords call within 5 MiB", async () => {
    await kinesis.createStream("large");
    const before = kinesis.putRecordsCalls.length;
    const batch = numberedRecords(120, 5, "x".repeat(100_000));
    const result = await withSession("large", (s) => s.sendBatch(batch));
    expect(result.failed).toEqual([]);
    const calls = kinesis.putRecordsCalls.slice(before);
    expect(calls.length).toBe(3);
    for (const call of calls) expect(call.bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
    expect(calls.every((c) => c.outcome === "ok")).toBe(true);
    expect(await kinesis.readRecords("large")).toHaveLength(120);
  });

  it("fails a record over 1 MiB without retry and delivers the others", async () => {
    await kinesis.createStream("oversize");
    const batch = numberedRecords(3, 3);
    batch[1] = oversized(batch[1] as OutboundRecord, "y");
    const result = await withSession("oversize", (s) => s.sendBatch(batch));
    expect(result.failed).toEqual([
      { index: 1, retryable: false, error: expect.stringContaining("over the destination's limit") },
    ]);
    expect(
      (await kinesis.readRecords("oversize")).map((r) => (r.data as { seq: number }).seq).sort(),
    ).toEqual([0, 2]);
  });

  it("reports throttled records as retryable, holds back later records of the same profile, and a resend completes the stream", async () => {
    await kinesis.createStream("throttled");
    const batch = numberedRecords(12, 3);
    kinesis.failRecords(1, (key) => key === "profile-1");
    const result = await withSession("throttled", (s) => s.sendBatch(batch));
    // profile-1 has seq 1, 4, 7, 10: seq 1 was throttled, 4, 7, 10 are held back to keep the order.
    expect(result.failed.map((f) => [f.index, f.retryable])).toEqual([
      [1, true],
      [4, true],
      [7, true],
      [10, true],
    ]);
    expect(result.failed[0]?.error).toContain("ProvisionedThroughputExceededException");
    const again = result.failed.map((f) => batch[f.index] as OutboundRecord);
    expect((await withSession("throttled", (s) => s.sendBatch(again))).failed).toEqual([]);
    const stored = await kinesis.readRecords("throttled");
    const profile1 = stored
      .filter((r) => r.partitionKey === "profile-1")
      .map((r) => (r.data as { seq: number }).seq);
    // seq 4, 7, 10 were delivered twice, but the last record seen for the profile is its latest.
    expect(profile1.at(-1)).toBe(10);
    expect(new Set(profile1)).toEqual(new Set([1, 4, 7, 10]));
    expect(profile1.slice(profile1.indexOf(1))).toEqual([1, 4, 7, 10]);
  });

  it("rejects a batch whose call is throttled whole as rate_limited", async () => {
    await kinesis.createStream("refused");
    kinesis.refuseCalls(1);
    const error = await errorOf(withSession("refused", (s) => s.sendBatch(numberedRecords(5, 2))));
    expect(error).toMatchObject({ kind: "rate_limited", code: "kinesis_throttled" });
    expect(await kinesis.readRecords("refused")).toEqual([]);
  });

  it("after a delivered call, reports a refused call's records and the later ones as retryable failures", async () => {
    await kinesis.createStream("refused-later");
    kinesis.refuseCalls(1, "ProvisionedThroughputExceededException", 1);
    const batch = numberedRecords(1100, 10);
    const result = await withSession("refused-later", (s) => s.sendBatch(batch));
    expect(result.failed.map((f) => f.index)).toEqual(Array.from({ length: 600 }, (_, i) => i + 500));
    expect(result.failed.every((f) => f.retryable && f.error.includes("throttled"))).toBe(true);
    expect(await kinesis.readRecords("refused-later")).toHaveLength(500);
  });

  it("reports failure of a missing stream at send time as not_found", async () => {
    const error = await errorOf(withSession("gone", (s) => s.sendBatch(numberedRecords(2, 1))));
    expect(error).toMatchObject({ kind: "not_found" });
  });
});
