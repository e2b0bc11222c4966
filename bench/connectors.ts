/**
 * Connector benchmark (issue 4), everything on loopback against the test servers: a 1 GiB file put
 * through each file connector, and 1,000,000 records sent through each streaming connector, each
 * beside a reference client doing the same transfer in the same run:
 *
 *   SFTP        Herald's session.putFile     vs OpenSSH's `sftp -b` (put), key login, same sshd; and
 *                                            `sftp -f -c <Herald's cipher>`: same cipher, flushed like putFile
 *   S3          Herald's session.putFile     vs the SDK's Upload (lib-storage) and PutObject, same s3rver
 *   Azure Blob  Herald's session.putFile     vs the SDK's BlockBlobClient.uploadFile, same Azurite
 *   Kinesis     Herald's session.sendBatch   vs the SDK's PutRecords, 500 records a call, same kinesalite
 *   Event Hubs  Herald's session.sendBatch   vs the SDK's createBatch/sendBatch, same AMQP test endpoint
 *   HTTP        Herald's session.sendBatch   vs a plain fetch loop, 100 records a request, same recording server
 *
 * Servers run in this process (or their own); each client runs in a child process, so a client and
 * a server in JavaScript do not share an event loop. Every transfer runs `--rounds` times (default
 * 1), Herald and the reference taking turns; the best of each is printed.
 *
 *   node bench/connectors.ts                            # 1 GiB, 1,000,000 records
 *   HERALD_BENCH_SCALE=0.01 node bench/connectors.ts     # 10 MiB, 10,000 records
 *   node bench/connectors.ts --only=sftp,s3 --rounds=3
 */
import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { DeleteStreamCommand, KinesisClient, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { EventHubProducerClient } from "@azure/event-hubs";
import { BlobServiceClient } from "@azure/storage-blob";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import ssh2 from "ssh2";
import { azureBlobDestination } from "../src/destinations/azure-blob/index.ts";
import { eventHubsDestination } from "../src/destinations/event-hubs/index.ts";
import { httpDestination } from "../src/destinations/http/index.ts";
import type {
  DestinationDefinition,
  FileConnector,
  OutboundRecord,
  StreamConnector,
} from "../src/destinations/index.ts";
import { kinesisDestination } from "../src/destinations/kinesis/index.ts";
import { s3Destination } from "../src/destinations/s3/index.ts";
import { sftpDestination } from "../src/destinations/sftp/index.ts";
import { startAzurite } from "../test/servers/azurite.ts";
import { startEventHubs } from "../test/servers/event-hubs.ts";
import { startHttpRecorder } from "../test/servers/http-recorder.ts";
import { startKinesis } from "../test/servers/kinesalite.ts";
import { startS3rver } from "../test/servers/s3rver.ts";
import { sshdUnavailableReason, startSshd } from "../test/servers/sshd.ts";
import {
  benchScale,
  childTask,
  ensureFreeDisk,
  MiB,
  mbPerSecond,
  perSecond,
  printTable,
  ratio,
  reportFromChild,
  runChild,
  timed,
} from "./support/measure.ts";

const run = promisify(execFile);

type Task =
  | {
      kind: "put-file";
      destination: string;
      connection: unknown;
      details: unknown;
      file: string;
      name: string;
    }
  | { kind: "s3-upload" | "s3-put-object"; s3: S3Target; file: string; key: string }
  | { kind: "azure-upload-file"; connectionString: string; container: string; file: string; name: string }
  | { kind: "send-records"; destination: string; connection: unknown; details: unknown; records: number }
  | { kind: "kinesis-put-records"; kinesis: KinesisTarget; streamName: string; records: number }
  | { kind: "event-hubs-send-batch"; connectionString: string; eventHubName: string; records: number }
  | { kind: "http-fetch"; url: string; batchSize: number; records: number };

interface S3Target {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}
interface KinesisTarget {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

// Straight from the connectors' folders: the benchmark does not wait for each to join the catalog.
const connectors = [
  sftpDestination,
  s3Destination,
  azureBlobDestination,
  kinesisDestination,
  eventHubsDestination,
  httpDestination,
];

function definition(id: string): DestinationDefinition {
  const found = (connectors as DestinationDefinition[]).find((d) => d.id === id);
  if (!found) throw new Error(`no destination '${id}' in the catalog`);
  return found;
}

/** Record i of a run: a profile's membership change, as the streaming path sends it (~200 bytes). */
function record(i: number): OutboundRecord {
  const profileId = `p${String(i).padStart(10, "0")}`;
  return {
    key: profileId,
    json: JSON.stringify({
      profileId,
      segmentId: "french-customers",
      status: i % 5 === 0 ? "exited" : "realized",
      changedAt: "2026-03-15T12:00:00.000Z",
      email: `user${i}@example.com`,
      firstName: "Chloé",
      points: i % 10_000,
    }),
  };
}

async function runTask(task: Task): Promise<{ seconds: number; [key: string]: unknown }> {
  switch (task.kind) {
    case "put-file": {
      const connector = definition(task.destination).connector as FileConnector<unknown, unknown>;
      const session = await connector.open(task.connection, task.details);
      try {
        const { value, seconds } = await timed(() =>
          session.putFile(task.name, fs.createReadStream(task.file, { highWaterMark: MiB })),
        );
        return { seconds, bytes: value.bytes };
      } finally {
        await session.close();
      }
    }
    case "s3-upload":
    case "s3-put-object": {
      const client = new S3Client({
        endpoint: task.s3.endpoint,
        region: task.s3.region,
        credentials: { accessKeyId: task.s3.accessKeyId, secretAccessKey: task.s3.secretAccessKey },
        forcePathStyle: true,
      });
      const bytes = fs.statSync(task.file).size;
      const params = { Bucket: task.s3.bucket, Key: task.key, Body: fs.createReadStream(task.file) };
      const { seconds } = await timed(async () => {
        if (task.kind === "s3-upload") await new Upload({ client, params }).done();
        else await client.send(new PutObjectCommand({ ...params, ContentLength: bytes }));
      });
      client.destroy();
      return { seconds, bytes };
    }
    case "azure-upload-file": {
      const blob = BlobServiceClient.fromConnectionString(task.connectionString)
        .getContainerClient(task.container)
        .getBlockBlobClient(task.name);
      const { seconds } = await timed(() => blob.uploadFile(task.file));
      return { seconds, bytes: fs.statSync(task.file).size };
    }
    case "send-records": {
      // As the dispatcher sends: batches of maxBatchRecords, maxConcurrency batches in flight.
      const connector = definition(task.destination).connector as StreamConnector<unknown, unknown>;
      const { maxBatchRecords, maxConcurrency } = connector.limits;
      const session = await connector.open(task.connection, task.details);
      let failed = 0;
      try {
        const { seconds } = await timed(() =>
          inParallel(task.records, maxBatchRecords, maxConcurrency, async (from, to) => {
            const batch: OutboundRecord[] = [];
            for (let i = from; i < to; i++) batch.push(record(i));
            failed += (await session.sendBatch(batch)).failed.length;
          }),
        );
        return { seconds, records: task.records, failed };
      } finally {
        await session.close();
      }
    }
    case "kinesis-put-records": {
      const client = kinesisClient(task.kinesis);
      let failed = 0;
      const { seconds } = await timed(() =>
        inParallel(task.records, 500, 4, async (from, to) => {
          const Records = [];
          for (let i = from; i < to; i++) {
            const r = record(i);
            Records.push({ PartitionKey: r.key, Data: Buffer.from(r.json) });
          }
          const answer = await client.send(new PutRecordsCommand({ StreamName: task.streamName, Records }));
          failed += answer.FailedRecordCount ?? 0;
        }),
      );
      client.destroy();
      return { seconds, records: task.records, failed };
    }
    case "event-hubs-send-batch": {
      const producer = new EventHubProducerClient(task.connectionString, task.eventHubName);
      const { seconds } = await timed(() =>
        inParallel(task.records, 1_000, 4, async (from, to) => {
          let batch = await producer.createBatch();
          for (let i = from; i < to; i++) {
            const event = { body: Buffer.from(record(i).json), contentType: "application/json" };
            if (!batch.tryAdd(event)) {
              await producer.sendBatch(batch);
              batch = await producer.createBatch();
              batch.tryAdd(event);
            }
          }
          await producer.sendBatch(batch);
        }),
      );
      await producer.close();
      return { seconds, records: task.records, failed: 0 };
    }
    case "http-fetch": {
      let failed = 0;
      const { seconds } = await timed(() =>
        inParallel(task.records, task.batchSize, 4, async (from, to) => {
          const records: string[] = [];
          for (let i = from; i < to; i++) records.push(record(i).json);
          const response = await fetch(task.url, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: `{"records":[${records.join(",")}]}`,
          });
          await response.text();
          if (!response.ok) failed += to - from;
        }),
      );
      return { seconds, records: task.records, failed };
    }
  }
}

/**
 * The SDK's Kinesis client over HTTP/1.1: the client defaults to HTTP/2, which AWS speaks and
 * kinesalite does not (Herald's connector makes the same choice, for the same servers).
 */
function kinesisClient(target: KinesisTarget): KinesisClient {
  return new KinesisClient({
    endpoint: target.endpoint,
    region: target.region,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    requestHandler: new NodeHttpHandler(),
  });
}

/** Calls `work` on consecutive ranges of `size` over [0, total), `concurrency` at a time, in order of start. */
async function inParallel(
  total: number,
  size: number,
  concurrency: number,
  work: (from: number, to: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const from = next;
      next = Math.min(total, next + size);
      await work(from, next);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

interface Contender {
  label: string;
  transfer: () => Promise<{ seconds: number }>;
  /** Removes what the transfer left at the server, between rounds. */
  clean?: () => Promise<void>;
}

interface Line {
  connector: string;
  herald: Contender;
  references: Contender[];
  /** Bytes or records moved by one transfer. */
  amount: number;
  unit: "bytes" | "records";
}

/** Runs Herald and the references in turns, `rounds` times each, and keeps the best time of each. */
async function measure(line: Line, rounds: number): Promise<string[][]> {
  const contenders = [line.herald, ...line.references];
  const best = contenders.map(() => Number.POSITIVE_INFINITY);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order) {
      const { seconds } = await contender.transfer();
      await contender.clean?.();
      const i = contenders.indexOf(contender);
      best[i] = Math.min(best[i] ?? Number.POSITIVE_INFINITY, seconds);
    }
  }
  const heraldSeconds = best[0] ?? Number.NaN;
  const lines = contenders.map((c, i) => {
    const seconds = best[i] ?? Number.NaN;
    const rate = line.unit === "bytes" ? mbPerSecond(line.amount, seconds) : perSecond(line.amount, seconds);
    return [
      i === 0 ? line.connector : "",
      c.label,
      seconds.toFixed(2),
      rate,
      i === 0 ? "" : ratio(seconds, heraldSeconds),
    ];
  });
  for (const cells of lines) console.log(cells.filter(Boolean).join("  "));
  return lines;
}

async function main() {
  const scale = benchScale();
  const rounds = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 1);
  const only = process.argv
    .find((a) => a.startsWith("--only="))
    ?.slice(7)
    .split(",");
  const wanted = (name: string) => !only || only.includes(name);
  const fileBytes = Math.round(1024 * MiB * scale);
  const records = Math.round(1_000_000 * scale);
  const script = new URL(import.meta.url).pathname;
  const dir = fs.mkdtempSync(
    path.join(process.env.HERALD_BENCH_DIR ?? os.tmpdir(), "herald-bench-connectors-"),
  );
  const file = path.join(dir, "upload.bin");
  // The file, plus what a server keeps of one upload (s3rver: the parts and the object) at a time.
  try {
    ensureFreeDisk(dir, fileBytes * 4, `Uploading a ${(fileBytes / MiB).toFixed(0)} MiB file`);
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  console.log(
    `Connectors, scale ${scale}: a ${(fileBytes / MiB).toFixed(0)} MiB file (random bytes), ${records.toLocaleString("en-US")} records (~200 bytes of JSON each), best of ${rounds} rounds, ${os.cpus().length} cores`,
  );
  // Random bytes: no transport may win by compressing.
  const fd = fs.openSync(file, "w");
  const block = Buffer.allocUnsafe(16 * MiB);
  for (let written = 0; written < fileBytes; written += block.length) {
    const n = Math.min(block.length, fileBytes - written);
    fs.writeSync(fd, randomFillSync(block, 0, n), 0, n);
  }
  fs.closeSync(fd);

  const rows: string[][] = [];
  const print = () => {
    console.log("");
    printTable(["connector", "client", "seconds", "rate", "Herald's rate / this"], rows);
  };
  try {
    if (wanted("sftp")) {
      const problem = sshdUnavailableReason();
      if (problem) console.log(`SFTP skipped: ${problem}`);
      else rows.push(...(await sftp(script, dir, file, fileBytes, rounds)));
    }
    if (wanted("s3")) rows.push(...(await s3(script, file, fileBytes, rounds)));
    if (wanted("azure")) rows.push(...(await azure(script, file, fileBytes, rounds)));
    if (wanted("kinesis")) rows.push(...(await kinesis(script, records, rounds)));
    if (wanted("event-hubs")) rows.push(...(await eventHubs(script, records, rounds)));
    if (wanted("http")) rows.push(...(await httpApi(script, records, rounds)));
    print();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function sftp(script: string, dir: string, file: string, bytes: number, rounds: number) {
  const server = await startSshd();
  try {
    const key = path.join(dir, "id_ed25519");
    fs.writeFileSync(key, server.keyUser.ed25519.privateKey, { mode: 0o600 });
    const remote = path.join(server.writable, "openssh.bin");
    const batch = path.join(dir, "sftp-batch");
    fs.writeFileSync(batch, `put ${file} ${remote}\n`);
    const connection = {
      host: server.host,
      port: server.port,
      username: server.keyUser.username,
      privateKey: server.keyUser.ed25519.privateKey,
      hostKeyFingerprint: server.hostKeyFingerprint,
    };
    const login = [
      "-i",
      key,
      "-P",
      String(server.port),
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      `${server.keyUser.username}@${server.host}`,
    ];
    const empty = async () => {
      for (const name of fs.readdirSync(server.writable)) fs.rmSync(path.join(server.writable, name));
    };
    const herald = await ssh2Algorithms(connection);
    const sameAsHerald = ["-c", herald.cipher, ...(herald.mac ? ["-m", herald.mac] : [])];
    console.log(
      `SFTP: ssh2's crypto binding ${ssh2CryptoBindingLoaded() ? "is loaded" : "did NOT load (built for another Node? see .npmrc): ssh2 encrypts in JavaScript, about half as fast"}`,
    );
    console.log(
      `SFTP algorithms, client to server: Herald (ssh2 defaults) ${describe(herald)}; OpenSSH sftp (its defaults) ${describe(await opensshAlgorithms(batch, login))}`,
    );
    const openssh = (label: string, options: string[]): Contender => ({
      label,
      transfer: async () => {
        const { seconds } = await timed(() => run("sftp", ["-q", ...options, "-b", batch, ...login]));
        if (fs.statSync(remote).size !== bytes)
          throw new Error("OpenSSH's sftp put a file of the wrong size");
        return { seconds };
      },
      clean: empty,
    });
    return await measure(
      {
        connector: "SFTP (sshd)",
        amount: bytes,
        unit: "bytes",
        herald: {
          label: "Herald putFile",
          transfer: () =>
            runChild(script, {
              kind: "put-file",
              destination: "sftp",
              connection,
              details: { folderPath: server.writable },
              file,
              name: "herald.bin",
            }),
          clean: empty,
        },
        references: [
          openssh("OpenSSH sftp -b (put)", []),
          // Like for like: Herald's cipher, and flushed to disk before the end as putFile does
          // (both through OpenSSH's fsync@openssh.com extension).
          openssh(`OpenSSH sftp -f ${sameAsHerald.join(" ")} (put)`, ["-f", ...sameAsHerald]),
        ],
      },
      rounds,
    );
  } finally {
    await server.stop();
  }
}

interface Algorithms {
  cipher: string;
  /** Empty for AEAD ciphers (AES-GCM, ChaCha20-Poly1305), whose integrity is part of the cipher. */
  mac: string;
}

function describe({ cipher, mac }: Algorithms): string {
  return mac ? `${cipher} with ${mac}` : `${cipher} (integrity built in)`;
}

/** ssh2 encrypts in its C++ binding when the binding loads, else in JavaScript (a cipher object per packet). */
function ssh2CryptoBindingLoaded(): boolean {
  const crypto = createRequire(import.meta.url)("ssh2/lib/protocol/crypto.js") as {
    bindingAvailable?: unknown;
  };
  return crypto.bindingAvailable === true;
}

/** What ssh2 negotiates with the server by default, as connectSftp (which names no algorithms) does. */
function ssh2Algorithms(connection: {
  host: string;
  port: number;
  username: string;
  privateKey: string;
}): Promise<Algorithms> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.once("handshake", ({ cs }) => {
      client.end();
      resolve({ cipher: cs.cipher, mac: cs.mac });
    });
    client.on("error", reject);
    client.connect(connection);
  });
}

/** What OpenSSH's sftp negotiates with the server, read from its verbose log. */
async function opensshAlgorithms(batch: string, login: string[]): Promise<Algorithms> {
  const noop = `${batch}-noop`;
  fs.writeFileSync(noop, "pwd\n");
  const { stderr } = await run("sftp", ["-v", "-b", noop, ...login]);
  const found = /kex: client->server cipher: (\S+) MAC: (\S+)/.exec(stderr);
  if (!found?.[1] || !found[2]) throw new Error("OpenSSH's sftp -v did not log the negotiated cipher");
  return { cipher: found[1], mac: found[2] === "<implicit>" ? "" : found[2] };
}

async function s3(script: string, file: string, bytes: number, rounds: number) {
  const server = await startS3rver();
  try {
    const target: S3Target = {
      endpoint: server.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      bucket: server.bucket,
    };
    const client = new S3Client({
      endpoint: target.endpoint,
      region: target.region,
      credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
      forcePathStyle: true,
    });
    const remove = (key: string) => async () => {
      await client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: key }));
    };
    const sdk = (kind: "s3-upload" | "s3-put-object", key: string, label: string): Contender => ({
      label,
      transfer: () => runChild(script, { kind, s3: target, file, key }),
      clean: remove(key),
    });
    const lines = await measure(
      {
        connector: "S3 (s3rver)",
        amount: bytes,
        unit: "bytes",
        herald: {
          label: "Herald putFile",
          transfer: () =>
            runChild(script, {
              kind: "put-file",
              destination: "amazon-s3",
              connection: { ...target, bucket: undefined, forcePathStyle: true },
              details: { bucket: target.bucket, folderPath: "bench" },
              file,
              name: "herald.bin",
            }),
          clean: remove("bench/herald.bin"),
        },
        references: [
          sdk("s3-upload", "bench/upload.bin", "SDK Upload (lib-storage defaults)"),
          sdk("s3-put-object", "bench/put-object.bin", "SDK PutObject (one request)"),
        ],
      },
      rounds,
    );
    client.destroy();
    return lines;
  } finally {
    await server.stop();
  }
}

async function azure(script: string, file: string, bytes: number, rounds: number) {
  const container = "bench";
  const server = await startAzurite({ containers: [container] });
  try {
    const blobs = server.serviceClient().getContainerClient(container);
    const remove = (name: string) => async () => {
      await blobs.deleteBlob(name);
    };
    return await measure(
      {
        connector: "Azure Blob (Azurite)",
        amount: bytes,
        unit: "bytes",
        herald: {
          label: "Herald putFile",
          transfer: () =>
            runChild(script, {
              kind: "put-file",
              destination: "azure-blob",
              connection: { connectionString: server.connectionString },
              details: { container, folderPath: "bench" },
              file,
              name: "herald.bin",
            }),
          clean: remove("bench/herald.bin"),
        },
        references: [
          {
            label: "SDK uploadFile (defaults)",
            transfer: () =>
              runChild(script, {
                kind: "azure-upload-file",
                connectionString: server.connectionString,
                container,
                file,
                name: "bench/sdk.bin",
              }),
            clean: remove("bench/sdk.bin"),
          },
        ],
      },
      rounds,
    );
  } finally {
    await server.stop();
  }
}

async function kinesis(script: string, records: number, rounds: number) {
  const server = await startKinesis();
  try {
    const target: KinesisTarget = {
      endpoint: server.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    };
    const admin = kinesisClient(target);
    // A fresh 4-shard stream per transfer, deleted after it: kinesalite keeps every record in memory.
    let streams = 0;
    const fresh = async () => {
      const name = `bench-${++streams}`;
      await server.createStream(name, 4);
      return name;
    };
    const drop = (name: string) => admin.send(new DeleteStreamCommand({ StreamName: name })).then(() => {});
    const checked = (result: { seconds: number; failed?: unknown }) => {
      if (result.failed) throw new Error(`${result.failed} records refused`);
      return result;
    };
    const lines = await measure(
      {
        connector: "Kinesis (kinesalite)",
        amount: records,
        unit: "records",
        herald: {
          label: "Herald sendBatch",
          transfer: async () => {
            const streamName = await fresh();
            const result = await runChild(script, {
              kind: "send-records",
              destination: "amazon-kinesis",
              connection: target,
              details: { streamName },
              records,
            });
            await drop(streamName);
            return checked(result);
          },
        },
        references: [
          {
            label: "SDK PutRecords (500 a call, 4 in flight)",
            transfer: async () => {
              const streamName = await fresh();
              const result = await runChild(script, {
                kind: "kinesis-put-records",
                kinesis: target,
                streamName,
                records,
              });
              await drop(streamName);
              return checked(result);
            },
          },
        ],
      },
      rounds,
    );
    admin.destroy();
    return lines;
  } finally {
    await server.stop();
  }
}

async function eventHubs(script: string, records: number, rounds: number) {
  const hub = "bench";
  const key = { name: "herald-send", key: "YmVuY2gta2V5LWZvci1ldmVudC1odWJz" };
  const server = await startEventHubs({ hubs: { [hub]: { partitions: 4 } }, keys: [key] });
  const forget = async () => {
    server.messages.length = 0;
    server.transfers.length = 0;
  };
  try {
    const connectionString = server.connectionString();
    return await measure(
      {
        connector: "Event Hubs (AMQP test endpoint)",
        amount: records,
        unit: "records",
        herald: {
          label: "Herald sendBatch",
          transfer: () =>
            runChild(script, {
              kind: "send-records",
              destination: "azure-event-hubs",
              connection: { connectionString },
              details: { eventHubName: hub },
              records,
            }),
          clean: forget,
        },
        references: [
          {
            label: "SDK createBatch/sendBatch (4 in flight)",
            transfer: () =>
              runChild(script, {
                kind: "event-hubs-send-batch",
                connectionString,
                eventHubName: hub,
                records,
              }),
            clean: forget,
          },
        ],
      },
      rounds,
    );
  } finally {
    await server.close();
  }
}

async function httpApi(script: string, records: number, rounds: number) {
  const server = await startHttpRecorder();
  const forget = async () => {
    server.requests.length = 0;
  };
  const batchSize = 100; // the connector's default request size, for both clients
  try {
    const url = `${server.url}/audiences`;
    return await measure(
      {
        connector: "HTTP API (recording server)",
        amount: records,
        unit: "records",
        herald: {
          label: `Herald sendBatch (${batchSize} a request)`,
          transfer: () =>
            runChild(script, {
              kind: "send-records",
              destination: "http-api",
              connection: { url },
              details: { batchSize },
              records,
            }),
          clean: forget,
        },
        references: [
          {
            label: `fetch loop (${batchSize} a request, 4 in flight)`,
            transfer: () => runChild(script, { kind: "http-fetch", url, batchSize, records }),
            clean: forget,
          },
        ],
      },
      rounds,
    );
  } finally {
    await server.close();
  }
}

// Last, once every declaration above is initialised: a child runs its task, the parent the benchmark.
const task = childTask<Task>();
if (task) await reportFromChild(() => runTask(task));
else await main();
