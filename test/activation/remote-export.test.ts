import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDataflow,
  type FileOptionsInput,
  listDataflows,
  type Run,
  runSegmentExport,
} from "../../src/activation/index.ts";
import type { FileSession } from "../../src/destinations/index.ts";
import { createAccount, openAccountConnection } from "../../src/destinations/index.ts";
import { ingestFile } from "../../src/profiles/files/index.ts";
import { generateDataset } from "../../src/profiles/generate/index.ts";
import { createSegment, evaluateSegments } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import { type AzuriteServer, startAzurite } from "../servers/azurite.ts";
import { type S3rverServer, startS3rver } from "../servers/s3rver.ts";
import { type SshServer, startSshd } from "../servers/sshd.ts";
import { activationFixture, parseCsvFiles, sandbox } from "../support/activation.ts";

/**
 * The issue's end-to-end path on demo data: generated files → ingestion → segment → evaluation →
 * dataflow → files at a real server, read back and compared row for row with the audience as a
 * hand-written SQL query computes it.
 */
const SEGMENT = "loyal-customers";
const scheduledFor = new Date("2026-11-20T05:00:00Z");

interface ExpectedRow {
  email: string;
  first_name: string;
  city: string | null;
  points: number | null;
}

let fixture: Awaited<ReturnType<typeof activationFixture>>;
let store: Store;
let dataDir: string;
/** The audience in the order every format leaves DuckDB: the profiles table's own. */
let expected: ExpectedRow[];

beforeAll(async () => {
  fixture = await activationFixture("duckdb", 0);
  store = fixture.store;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-demo-"));
  const demo = await generateDataset({ profiles: 3000, eventsPerProfile: 2, seed: 7, outDir: dataDir });
  for (const kind of ["profiles", "events"] as const) {
    const report = await ingestFile(store, fixture.schema, {
      path: kind === "profiles" ? demo.profilesFile : demo.eventsFile,
      kind,
    });
    expect(report.rejected).toBe(0);
  }
  await createSegment(store, sandbox, {
    id: SEGMENT,
    name: "Loyal customers",
    definition: 'loyalty.tier in ["gold", "platinum"]',
  });
  await evaluateSegments(store, sandbox, fixture.schema, [SEGMENT]);
  expected = (
    await store.query<ExpectedRow>(
      sandbox,
      `SELECT "personalEmail.address" AS email, "person.name.firstName" AS first_name, "homeAddress.city" AS city,
                "loyalty.points" AS points
           FROM {profiles} WHERE "loyalty.tier" IN ('gold', 'platinum') AND "person.birthDate" IS NOT NULL
           ORDER BY rowid`,
    )
  ).map((r) => ({ ...r, points: r.points === null ? null : Number(r.points) }));
  expect(expected.length).toBeGreaterThan(300);
}, 120_000);

afterAll(async () => {
  await store?.close();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** The dataflow every test exports: the loyal customers' email, name, city, points and birth date. */
function loyalCustomersTo(
  destinationId: string,
  accountId: string,
  details: Record<string, unknown>,
  fileOptions: FileOptionsInput,
) {
  return {
    name: `Loyal customers to ${destinationId}`,
    accountId,
    details,
    segments: [
      {
        segmentId: SEGMENT,
        schedule: { frequency: "daily", time: "06:00", timezone: "UTC" },
        fileNameTemplate: "%SEGMENT_ID%_%DATETIME%",
      },
    ],
    mapping: {
      columns: [
        { source: { kind: "identity", namespace: "email" }, target: "email" },
        { source: { kind: "attribute", path: "person.name.firstName" }, target: "first_name" },
        { source: { kind: "attribute", path: "homeAddress.city" }, target: "city" },
        { source: { kind: "attribute", path: "loyalty.points" }, target: "points" },
        { source: { kind: "attribute", path: "person.birthDate" }, target: "birth_date", mandatory: true },
      ],
    },
    fileOptions,
    status: "enabled",
  };
}

/** Creates the account (validated live), the dataflow, runs one export and opens a session to read back. */
async function exportTo(
  destinationId: string,
  connection: Record<string, unknown>,
  details: Record<string, unknown>,
  fileOptions: FileOptionsInput,
): Promise<{ run: Run; session: FileSession; read: () => Promise<Buffer[]> }> {
  const account = await createAccount(fixture.deps, sandbox, {
    destinationId,
    name: destinationId,
    connection,
    details,
  });
  const dataflow = await createDataflow(
    fixture.deps,
    sandbox,
    loyalCustomersTo(destinationId, account.id, details, fileOptions),
  );
  const run = await runSegmentExport(fixture.deps, sandbox, {
    dataflowId: dataflow.id,
    segmentId: SEGMENT,
    trigger: "manual",
    scheduledFor,
  });
  expect(run.errors).toEqual([]);
  expect(run.status).toBe("succeeded");
  const { definition, connection: opened } = await openAccountConnection(fixture.deps, sandbox, account.id);
  if (definition.connector.kind !== "file") throw new Error("not a file destination");
  const session = await definition.connector.open(opened as never, details as never);
  const read = async () => {
    const names = run.files.map((f) => f.name);
    const files = await Promise.all(names.map((name) => session.getFile(name)));
    // What the run recorded is what arrived.
    for (const [i, bytes] of files.entries()) {
      expect(bytes.length).toBe(run.files[i]?.bytes);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(run.files[i]?.sha256);
    }
    return files;
  };
  return { run, session, read };
}

/** Every member was received; those without a birth date were excluded and counted, the rest activated. */
function expectCounts(run: Run) {
  expect(run.activated).toBe(expected.length);
  expect(run.received - run.activated).toBe(run.excluded.missingMandatory);
}

// The key user: a password is reset by every sshd start, and another test file may start one meanwhile.
// Needs root and openssh-server (.ci/run installs it); startSshd fails saying so otherwise.
describe("export of demo data to SFTP (OpenSSH sshd)", () => {
  let sshd: SshServer;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => sshd?.stop());

  it("delivers gzipped ';' CSV in at most 5 files with a manifest, row for row the audience", async () => {
    const { run, session, read } = await exportTo(
      "sftp",
      {
        host: sshd.host,
        port: sshd.port,
        username: sshd.keyUser.username,
        privateKey: sshd.keyUser.ed25519.privateKey,
        hostKeyFingerprint: sshd.hostKeyFingerprint,
      },
      { folderPath: sshd.writable },
      {
        format: "csv",
        csv: { delimiter: ";" },
        compression: "gzip",
        maxRowsPerFile: 150,
        maxFiles: 5,
        manifest: true,
      },
    );
    expectCounts(run);
    expect(run.files.length).toBeGreaterThan(1);
    expect(run.files.length).toBeLessThanOrEqual(5);
    const rows = parseCsvFiles(await read(), ";", true);
    expect(
      rows.map((r) => ({
        email: r.email,
        first_name: r.first_name,
        city: r.city === "" ? null : r.city,
        points: r.points === "" ? null : Number(r.points),
      })),
    ).toEqual(expected);
    const listed = await session.listFiles();
    const manifestName = listed.find((name) => name.startsWith("manifest-"));
    const manifest = JSON.parse((await session.getFile(manifestName ?? "")).toString()) as {
      files: { name: string; rows: number; sha256: string }[];
    };
    expect(manifest.files.map((f) => [f.name, f.rows, f.sha256])).toEqual(
      run.files.map((f) => [f.name, f.rows, f.sha256]),
    );
    await session.close();
  });
});

describe("export of demo data to Amazon S3 (s3rver) as JSON Lines", () => {
  let s3: S3rverServer;
  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => s3?.stop());
  const connectionToS3rver = () => ({
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
  });

  it("delivers gzipped JSON Lines files equal, row for row, to the audience", async () => {
    const { run, session, read } = await exportTo(
      "amazon-s3",
      connectionToS3rver(),
      { bucket: s3.bucket, folderPath: "audiences/loyal" },
      { format: "jsonl", compression: "gzip", maxRowsPerFile: 200, maxFiles: 5 },
    );
    expectCounts(run);
    const { gunzipSync } = await import("node:zlib");
    const rows = (await read()).flatMap((file) =>
      gunzipSync(file)
        .toString()
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as ExpectedRow & { birth_date: string }),
    );
    expect(rows.map(({ email, first_name, city, points }) => ({ email, first_name, city, points }))).toEqual(
      expected,
    );
    expect(await session.listFiles()).toEqual(expect.arrayContaining(run.files.map((f) => f.name)));
    await session.close();
  });

  it("refuses a dataflow whose bucket does not exist, naming it, and saves none", async () => {
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "amazon-s3",
      name: "S3 for a typo",
      connection: connectionToS3rver(),
      details: { bucket: s3.bucket },
    });
    const before = await listDataflows(store, sandbox);
    const typo = loyalCustomersTo("amazon-s3", account.id, { bucket: `${s3.bucket}-typo` }, {});
    await expect(createDataflow(fixture.deps, sandbox, typo)).rejects.toMatchObject({
      kind: "not_found",
      message: expect.stringContaining(`'${s3.bucket}-typo'`),
      issues: [{ field: "details.bucket", message: "does not exist" }],
    });
    expect(await listDataflows(store, sandbox)).toEqual(before);
  });
});

describe("export of demo data to Azure Blob Storage (Azurite) as Parquet", () => {
  let azure: AzuriteServer;
  beforeAll(async () => {
    azure = await startAzurite({ containers: ["audiences"] });
  });
  afterAll(async () => azure?.stop());

  it("delivers Parquet files whose rows equal the audience", async () => {
    const { run, session, read } = await exportTo(
      "azure-blob",
      { connectionString: azure.connectionString },
      { container: "audiences", folderPath: "loyal" },
      { format: "parquet", maxRowsPerFile: 250, maxFiles: 5 },
    );
    expectCounts(run);
    expect(run.files.length).toBeGreaterThan(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-parquet-"));
    try {
      const files = await read();
      for (const [i, bytes] of files.entries()) fs.writeFileSync(path.join(dir, `part${i}.parquet`), bytes);
      const duck = await DuckDBInstance.create(":memory:");
      const connection = await duck.connect();
      const reader = await connection.runAndReadAll(
        `SELECT email, first_name, city, CAST(points AS DOUBLE) AS points
           FROM read_parquet('${dir}/*.parquet', filename = true, file_row_number = true)
          ORDER BY filename, file_row_number`,
      );
      const rows = reader.getRowObjectsJS() as unknown as ExpectedRow[];
      connection.closeSync();
      expect(rows).toEqual(expected);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await session.close();
  });
});
