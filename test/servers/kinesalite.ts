/**
 * Amazon Kinesis for tests: kinesalite (an implementation of the Kinesis API) on a loopback port,
 * behind a small front door that adds what kinesalite leaves out and a user of Kinesis relies on:
 *
 * - AWS Signature Version 4 is verified against the configured keys (kinesalite accepts any
 *   signature): an unknown access key → UnrecognizedClientException, a wrong secret →
 *   InvalidSignatureException, both HTTP 400 as AWS answers
 *   (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
 * - The PutRecords request quota of 5 MiB (data + partition keys) is enforced
 *   (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html).
 * - Throttling on demand: whole calls refused with ProvisionedThroughputExceededException, or single
 *   records failed inside a PutRecords answer (the records are then not stored, as on AWS).
 *
 * Everything else (streams, shards, sequence numbers, GetRecords) is kinesalite's own behaviour.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const require = createRequire(import.meta.url);
const kinesalite = require("kinesalite") as (options: Record<string, unknown>) => http.Server;

export interface StoredRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  data: unknown;
}

export interface PutRecordsCall {
  records: number;
  /** Data bytes plus partition key bytes, the quantity AWS caps at 5 MiB. */
  bytes: number;
  /** What the front door answered: "ok", a whole-call error name, or "partial". */
  outcome: string;
}

export interface KinesisTestServer {
  /** The endpoint connectors use (signature checks and fault injection in front of kinesalite). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  createStream(name: string, shardCount?: number): Promise<void>;
  /** Every record of a stream, shard by shard, in sequence order. */
  readRecords(streamName: string): Promise<StoredRecord[]>;
  /** PutRecords calls received so far (refused ones included). */
  putRecordsCalls: PutRecordsCall[];
  /**
   * After letting `afterCalls` PutRecords calls through, the next `calls` are refused whole with
   * `errorName` (HTTP 400, as AWS throttles).
   */
  refuseCalls(calls: number, errorName?: string, afterCalls?: number): void;
  /**
   * The next `count` records whose partition key matches fail inside their PutRecords answer with
   * `errorCode` and are not stored.
   */
  failRecords(count: number, match?: (partitionKey: string) => boolean, errorCode?: string): void;
  stop(): Promise<void>;
}

const region = "eu-west-1";
const accessKeyId = "AKIAHERALDTEST000001";
const secretAccessKey = "herald-test-secret-access-key/0123456789";
const maxRequestBytes = 5 * 1024 * 1024;

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

const hmac = (key: Buffer | string, value: string) => createHmac("sha256", key).update(value).digest();
const sha256Hex = (value: Buffer | string) => createHash("sha256").update(value).digest("hex");

/** Recomputes the SigV4 signature of a request; returns the AWS error name when it does not verify. */
function verifySignature(req: http.IncomingMessage, body: Buffer): string | undefined {
  const authorization = req.headers.authorization ?? "";
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      authorization,
    );
  if (!match) return "MissingAuthenticationTokenException";
  const [, keyId, date, scopeRegion, service, signedHeaders, signature] = match as unknown as string[];
  if (keyId !== accessKeyId) return "UnrecognizedClientException";
  const amzDate = String(req.headers["x-amz-date"] ?? "");
  const headerNames = (signedHeaders ?? "").split(";");
  const canonicalHeaders = headerNames
    .map(
      (name) =>
        `${name}:${String(req.headers[name] ?? "")
          .trim()
          .replace(/\s+/g, " ")}\n`,
    )
    .join("");
  const url = new URL(req.url ?? "/", "http://localhost");
  const canonicalRequest = [
    req.method,
    url.pathname,
    [...url.searchParams]
      .sort()
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join("&"),
    canonicalHeaders,
    signedHeaders,
    String(req.headers["x-amz-content-sha256"] ?? sha256Hex(body)),
  ].join("\n");
  const scope = `${date}/${scopeRegion}/${service}/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonicalRequest)].join("\n");
  const key = hmac(
    hmac(hmac(hmac(`AWS4${secretAccessKey}`, date ?? ""), scopeRegion ?? ""), service ?? ""),
    "aws4_request",
  );
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature ?? "", "hex");
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? undefined
    : "InvalidSignatureException";
}

const errorMessages: Record<string, string> = {
  MissingAuthenticationTokenException: "Missing Authentication Token",
  UnrecognizedClientException: "The security token included in the request is invalid.",
  InvalidSignatureException:
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
  ProvisionedThroughputExceededException: "Rate exceeded for stream under account 000000000000.",
  InvalidArgumentException: "Records size exceeds 5 MB limit",
};

function sendError(res: http.ServerResponse, name: string, status = 400) {
  const body = JSON.stringify({ __type: name, message: errorMessages[name] ?? name });
  res.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "x-amzn-errortype": name,
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function forward(
  port: number,
  req: http.IncomingMessage,
  body: Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, "content-length": String(body.length) };
    const request = http.request(
      { host: "127.0.0.1", port, method: req.method, path: req.url, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 500, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

interface PutRecordsEntry {
  PartitionKey: string;
  Data: string;
}

/** Starts kinesalite and its front door on free loopback ports. */
export async function startKinesis(): Promise<KinesisTestServer> {
  const backend = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 50 });
  const backendPort = await listen(backend);
  let refuse = { calls: 0, errorName: "ProvisionedThroughputExceededException", after: 0 };
  let recordFaults = {
    count: 0,
    match: (_key: string) => true,
    errorCode: "ProvisionedThroughputExceededException",
  };
  const putRecordsCalls: PutRecordsCall[] = [];

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const action = String(req.headers["x-amz-target"] ?? "").split(".")[1] ?? "";
    const authError = verifySignature(req, body);
    if (authError)
      return sendError(res, authError, authError === "MissingAuthenticationTokenException" ? 403 : 400);
    if (action !== "PutRecords") {
      const answer = await forward(backendPort, req, body);
      res.writeHead(answer.status, answer.headers);
      return res.end(answer.body);
    }
    const request = JSON.parse(body.toString("utf8")) as { StreamName: string; Records: PutRecordsEntry[] };
    const bytes = request.Records.reduce(
      (sum, r) => sum + Buffer.from(r.Data, "base64").length + Buffer.byteLength(r.PartitionKey),
      0,
    );
    const call: PutRecordsCall = { records: request.Records.length, bytes, outcome: "ok" };
    putRecordsCalls.push(call);
    if (bytes > maxRequestBytes) {
      call.outcome = "InvalidArgumentException";
      return sendError(res, "InvalidArgumentException");
    }
    if (refuse.calls > 0 && refuse.after > 0) refuse.after--;
    else if (refuse.calls > 0) {
      refuse.calls--;
      call.outcome = refuse.errorName;
      return sendError(res, refuse.errorName);
    }
    const failedAt = new Set<number>();
    request.Records.forEach((record, index) => {
      if (recordFaults.count > 0 && recordFaults.match(record.PartitionKey)) {
        recordFaults.count--;
        failedAt.add(index);
      }
    });
    const kept = request.Records.filter((_, index) => !failedAt.has(index));
    let stored: { Records: Record<string, unknown>[]; FailedRecordCount: number } = {
      Records: [],
      FailedRecordCount: 0,
    };
    if (kept.length) {
      const answer = await forward(
        backendPort,
        req,
        Buffer.from(JSON.stringify({ ...request, Records: kept })),
      );
      if (answer.status !== 200 || !failedAt.size) {
        res.writeHead(answer.status, answer.headers);
        return res.end(answer.body);
      }
      stored = JSON.parse(answer.body.toString("utf8")) as typeof stored;
    }
    call.outcome = "partial";
    const merged: Record<string, unknown>[] = [];
    let next = 0;
    request.Records.forEach((_, index) => {
      merged.push(
        failedAt.has(index)
          ? {
              ErrorCode: recordFaults.errorCode,
              ErrorMessage:
                "Rate exceeded for shard shardId-000000000000 in stream under account 000000000000.",
            }
          : (stored.Records[next++] ?? {}),
      );
    });
    const payload = JSON.stringify({
      FailedRecordCount: failedAt.size + stored.FailedRecordCount,
      Records: merged,
    });
    res.writeHead(200, {
      "content-type": "application/x-amz-json-1.1",
      "content-length": Buffer.byteLength(payload),
    });
    res.end(payload);
  }

  const front = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500, { "content-type": "application/x-amz-json-1.1" });
      res.end(JSON.stringify({ __type: "InternalFailure", message: String(error) }));
    });
  });
  const frontPort = await listen(front);
  const direct = new KinesisClient({
    region,
    endpoint: `http://127.0.0.1:${backendPort}`,
    credentials: { accessKeyId, secretAccessKey },
    // kinesalite speaks HTTP/1.1; the SDK's default for Kinesis is HTTP/2.
    requestHandler: new NodeHttpHandler(),
  });

  return {
    endpoint: `http://127.0.0.1:${frontPort}`,
    region,
    accessKeyId,
    secretAccessKey,
    putRecordsCalls,
    async createStream(name, shardCount = 1) {
      await direct.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
    },
    async readRecords(streamName) {
      const out: StoredRecord[] = [];
      const { Shards = [] } = await direct.send(new ListShardsCommand({ StreamName: streamName }));
      for (const shard of Shards) {
        let iterator = (
          await direct.send(
            new GetShardIteratorCommand({
              StreamName: streamName,
              ShardId: shard.ShardId,
              ShardIteratorType: "TRIM_HORIZON",
            }),
          )
        ).ShardIterator;
        while (iterator) {
          const page = await direct.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
          for (const r of page.Records ?? []) {
            out.push({
              shardId: shard.ShardId ?? "",
              sequenceNumber: r.SequenceNumber ?? "",
              partitionKey: r.PartitionKey ?? "",
              data: JSON.parse(Buffer.from(r.Data ?? new Uint8Array()).toString("utf8")),
            });
          }
          if (!page.Records?.length) break;
          iterator = page.NextShardIterator;
        }
      }
      return out;
    },
    refuseCalls(calls, errorName = "ProvisionedThroughputExceededException", afterCalls = 0) {
      refuse = { calls, errorName, after: afterCalls };
    },
    failRecords(count, match = () => true, errorCode = "ProvisionedThroughputExceededException") {
      recordFaults = { count, match, errorCode };
    },
    async stop() {
      direct.destroy();
      await close(front);
      await close(backend);
    },
  };
}
