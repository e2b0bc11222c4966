import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDataflow, getRun, listRuns, type Run, runSegmentExport } from "../../src/activation/index.ts";
import {
  createAccount,
  createCatalog,
  type DestinationDefinition,
  type FileConnector,
} from "../../src/destinations/index.ts";
import { localDestination } from "../../src/destinations/local/index.ts";
import { HeraldError } from "../../src/errors/index.ts";
import { ingestProfileRecords } from "../../src/profiles/index.ts";
import { evaluateSegments } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import {
  activationFixture,
  dataflowFor,
  expectedRows,
  FRENCH,
  fixtureProfile,
  parseCsvFiles,
  sandbox,
} from "../support/activation.ts";
import { engines } from "../support/stores.ts";

const scheduledFor = new Date("2026-11-20T05:00:00Z");

/** Phones, one per key, of the profiles with a last name (mandatory). */
const phoneDeduplication = {
  columns: [
    { source: { kind: "identity", namespace: "phone" }, target: "phone" },
    { source: { kind: "attribute", path: "person.name.lastName" }, target: "last_name", mandatory: true },
  ],
  deduplicationKey: ["phone"],
};

/**
 * The local folder destination, refusing the uploads whose number (1, 2, ... over the whole test,
 * retries included) `failures` maps to an error, before writing anything; `attempted` lists the
 * name of every upload tried.
 */
function localFolderFailing(
  failures: Map<number, HeraldError>,
  cleanupFailure?: HeraldError,
  beforePut?: (attempt: number) => Promise<void>,
) {
  const attempted: string[] = [];
  const connector = localDestination.connector as FileConnector<unknown, unknown>;
  const definition: DestinationDefinition = {
    ...(localDestination as DestinationDefinition),
    connector: {
      ...connector,
      async open(connection, details) {
        const session = await connector.open(connection, details);
        return {
          ...session,
          cleanupTemporaries: cleanupFailure
            ? () => Promise.reject(cleanupFailure)
            : session.cleanupTemporaries,
          async putFile(name, body, options) {
            attempted.push(name);
            await beforePut?.(attempted.length);
            const failure = failures.get(attempted.length);
            if (!failure) return session.putFile(name, body, options);
            body.destroy();
            throw failure;
          },
        };
      },
    },
  };
  return { definition, attempted };
}

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe.each(engines)("batch export to a local folder on %s", (engine) => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** `failures`: the uploads the destination refuses, by number (see `localFolderFailing`). */
  async function setup(
    fileOptions: Record<string, unknown>,
    extra: Record<string, unknown> = {},
    failures = new Map<number, HeraldError>(),
    cleanupFailure?: HeraldError,
    beforePut?: (attempt: number) => Promise<void>,
  ) {
    const local = localFolderFailing(failures, cleanupFailure, beforePut);
    const base = await activationFixture(engine);
    const fixture = { ...base, deps: { ...base.deps, catalog: createCatalog([local.definition]) } };
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-export-"));
    fs.mkdirSync(path.join(root, "out"));
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "pickup folder",
      connection: { root },
    });
    const dataflow = await createDataflow(
      fixture.deps,
      sandbox,
      dataflowFor(account.id, { details: { folderPath: "out" }, fileOptions, ...extra }),
    );
    const run = (signal?: AbortSignal) =>
      runSegmentExport(fixture.deps, sandbox, {
        dataflowId: dataflow.id,
        segmentId: FRENCH,
        trigger: "manual",
        scheduledFor,
        ...(signal ? { signal } : {}),
      });
    const delivered = () =>
      fs
        .readdirSync(path.join(root, "out"))
        .sort()
        .map((name) => ({ name, bytes: fs.readFileSync(path.join(root, "out", name)) }));
    // The next day's run, after some profiles changed and the segment was evaluated again.
    const runAfter = async (changes: Record<string, unknown>[]) => {
      await ingestProfileRecords(fixture.store, fixture.schema, changes);
      await evaluateSegments(fixture.store, sandbox, fixture.schema, [FRENCH]);
      return runSegmentExport(fixture.deps, sandbox, {
        dataflowId: dataflow.id,
        segmentId: FRENCH,
        trigger: "manual",
        scheduledFor: new Date("2026-11-21T05:00:00Z"),
      });
    };
    return { ...fixture, dataflow, run, runAfter, delivered, attempted: local.attempted };
  }

  it("exports even when old temporaries cannot be cleaned up (a key that may write but not list), and says so", async () => {
    const denied = new HeraldError(
      "forbidden",
      "s3_forbidden",
      "Access denied listing uploads in bucket 'drop'",
    );
    const { delivered, deps, dataflow } = await setup(
      { format: "csv", compression: "none" },
      {},
      new Map(),
      denied,
    );
    const warnings: unknown[] = [];
    const result = await runSegmentExport(
      { ...deps, logger: { warn: (...args: unknown[]) => warnings.push(args) } },
      sandbox,
      {
        dataflowId: dataflow.id,
        segmentId: FRENCH,
        trigger: "manual",
        scheduledFor,
      },
    );
    expect(result).toMatchObject({ status: "succeeded", activated: 85, errors: [] });
    expect(delivered()).toHaveLength(1);
    expect(warnings).toEqual([
      [
        expect.objectContaining({ err: "Access denied listing uploads in bucket 'drop'" }),
        "old temporary files not cleaned up; the export goes on",
      ],
    ]);
  });

  it("writes a CSV without quoting only when no value would break its row", async () => {
    // Every e-mail address holds '@': without quoting, each row would split there.
    const broken = await setup({ format: "csv", csv: { delimiter: "@", quote: "" }, compression: "none" });
    const refused = await broken.run();
    expect(refused).toMatchObject({ status: "failed", activated: 0, files: [] });
    expect(refused.errors).toEqual([
      expect.stringMatching(
        /^attempt 1: fileOptions\.csv\.quote: 85 profile\(s\) have a value holding the delimiter '@' or a line break/,
      ),
    ]);
    expect(broken.delivered()).toEqual([]);
    await store?.close();

    const plain = await setup({ format: "csv", csv: { delimiter: "|", quote: "" }, compression: "none" });
    expect(await plain.run()).toMatchObject({ status: "succeeded", activated: 85 });
    const text = plain.delivered()[0]?.bytes.toString() ?? "";
    expect(text.split("\n")[0]).toBe("email|first_name|last_name|city|status");
    // Values are written as they are: a quote in the data is just a character.
    expect(text).toContain('|Ann; "the first"|');
    expect(
      text
        .trim()
        .split("\n")
        .map((line) => line.split("|").length),
    ).toEqual(Array(86).fill(5));
  });

  it("writes gzipped ';' CSV split into files with a manifest, row for row the audience SQL computes", async () => {
    const { run, delivered } = await setup({
      format: "csv",
      csv: { delimiter: ";" },
      compression: "gzip",
      maxRowsPerFile: 30,
      maxFiles: 5,
      manifest: true,
    });
    const result = await run();
    expect(result.errors).toEqual([]);
    expect(result.status).toBe("succeeded");
    const files = delivered();
    const data = files.filter((f) => f.name.endsWith(".csv.gz"));
    expect(data.map((f) => f.name)).toEqual([
      "French-customers_20261120.csv.gz",
      "French-customers_20261120_2.csv.gz",
      "French-customers_20261120_3.csv.gz",
    ]);
    const rows = parseCsvFiles(
      data.map((f) => f.bytes),
      ";",
      true,
    );
    const expected = await expectedRows(store as Store);
    expect(rows).toHaveLength(expected.length);
    expect(rows.map((r) => [r.email, r.first_name, r.last_name, r.city, r.status])).toEqual(
      expected.map((e) => [e.email, e.first_name, e.last_name, e.city, "realized"]),
    );
    // 100 French profiles, 15 without a last name: excluded and counted, not silently dropped.
    expect(result).toMatchObject({
      received: 100,
      activated: 85,
      excluded: { missingMandatory: 15, duplicate: 0 },
      // The progress's total, counted before the first row: the audience less its exclusions.
      expectedRows: 85,
      progressRows: expect.any(Number),
    });
    expect(result.files.map((f) => f.rows)).toEqual([30, 30, 25]);
    const manifest = JSON.parse(files.find((f) => f.name.endsWith(".json"))?.bytes.toString() ?? "{}") as {
      files: { name: string; rows: number; sha256: string }[];
    };
    expect(manifest.files.map((f) => f.rows).reduce((a, b) => a + b, 0)).toBe(85);
  });

  it("reruns a run idempotently: same file names, same bytes, the manifest's included", async () => {
    const { run, delivered } = await setup({ csv: { delimiter: "|" }, maxRowsPerFile: 50, manifest: true });
    const first = await run();
    const before = delivered();
    expect(before.map((f) => f.name)).toEqual([
      "French-customers_20261120.csv.gz",
      "French-customers_20261120_2.csv.gz",
      "manifest-French-customers_20261120.json",
    ]);
    const second = await run();
    expect(second.status).toBe("succeeded");
    expect(second.id).not.toBe(first.id);
    expect(second.files.map((f) => [f.name, f.sha256])).toEqual(first.files.map((f) => [f.name, f.sha256]));
    expect(delivered()).toEqual(before);
  });

  it("exports a mapping that excludes nobody from the rows it writes: every member once", async () => {
    const { run, delivered } = await setup(
      { compression: "none", maxRowsPerFile: 25, maxFiles: 5 },
      {
        mapping: {
          columns: [
            { source: { kind: "identity", namespace: "email" }, target: "email" },
            { source: { kind: "attribute", path: "homeAddress.city" }, target: "city" },
          ],
        },
      },
    );
    // A membership whose profile is gone: the bound checked before writing counts it (101 rows,
    // within the limit of 5 x 25), the export neither writes nor receives it.
    await (store as Store).query(
      sandbox,
      `INSERT INTO segment_memberships (sandbox, segment_id, profile_id, status, changed_at)
       VALUES ($sandbox, $1, 'crm-gone', 'realized', $2)`,
      [FRENCH, scheduledFor],
    );
    const expected = await (store as Store).query<{ email: string; city: string }>(
      sandbox,
      `SELECT "personalEmail.address" AS email, "homeAddress.city" AS city FROM {profiles}
        WHERE "homeAddress.countryCode" = 'FR' ORDER BY ${engine === "duckdb" ? "rowid" : "_id"}`,
    );
    const result = await run();
    expect(result).toMatchObject({
      status: "succeeded",
      received: 100,
      activated: 100,
      excluded: { missingMandatory: 0, duplicate: 0 },
    });
    expect(result.files.map((f) => f.rows)).toEqual([25, 25, 25, 25]);
    const rows = parseCsvFiles(
      delivered().map((f) => f.bytes),
      ",",
      false,
    );
    expect(rows.map((r) => [r.email, r.city])).toEqual(expected.map((e) => [e.email, e.city]));
  });

  it("writes a mapping without membership columns in the profiles table's order on DuckDB, by profile id on PostgreSQL, the same bytes again on rerun", async () => {
    const fixture = await setup(
      { maxRowsPerFile: 40 },
      {
        mapping: {
          columns: [
            { source: { kind: "identity", namespace: "email" }, target: "email" },
            {
              source: { kind: "attribute", path: "person.name.lastName" },
              target: "last_name",
              mandatory: true,
            },
          ],
        },
      },
    );
    // French profiles stored last whose ids sort first.
    await ingestProfileRecords(
      fixture.store,
      fixture.schema,
      Array.from({ length: 10 }, (_, i) => ({ ...fixtureProfile(1000 + 2 * i), crmId: `aaa-${9 - i}` })),
    );
    await evaluateSegments(fixture.store, sandbox, fixture.schema, [FRENCH]);
    const expected = await fixture.store.query<{ email: string }>(
      sandbox,
      `SELECT "personalEmail.address" AS email FROM {profiles}
        WHERE "homeAddress.countryCode" = 'FR' AND "person.name.lastName" IS NOT NULL
        ORDER BY ${engine === "duckdb" ? "rowid" : "_id"}`,
    );
    const first = await fixture.run();
    expect(first).toMatchObject({ status: "succeeded", received: 110, activated: expected.length });
    const before = fixture.delivered();
    const rows = parseCsvFiles(
      before.map((f) => f.bytes),
      ",",
      true,
    );
    expect(rows.map((r) => r.email)).toEqual(expected.map((e) => e.email));
    const second = await fixture.run();
    expect(second.files.map((f) => [f.name, f.sha256])).toEqual(first.files.map((f) => [f.name, f.sha256]));
    expect(fixture.delivered()).toEqual(before);
  });

  it("checks the file limit of a mapping that excludes nobody exactly before writing anything", async () => {
    const { run, delivered } = await setup(
      { maxRowsPerFile: 30, maxFiles: 3 },
      { mapping: { columns: [{ source: { kind: "identity", namespace: "email" }, target: "email" }] } },
    );
    const result = await run();
    // 100 members over the limit of 3 x 30: counted exactly, then refused.
    expect(result.status).toBe("failed");
    expect(result.errors.join("\n")).toMatch(/100 rows.*4 files.*maxFiles/);
    expect(delivered()).toEqual([]);
  });

  it("counts deduplicated profiles exactly and keeps one per key", async () => {
    const { run, delivered } = await setup(
      { compression: "none" },
      {
        mapping: {
          columns: [
            { source: { kind: "identity", namespace: "email" }, target: "email" },
            { source: { kind: "identity", namespace: "phone" }, target: "phone" },
            {
              source: { kind: "attribute", path: "person.name.lastName" },
              target: "last_name",
              mandatory: true,
            },
          ],
          deduplicationKey: ["phone"],
        },
      },
    );
    const kept = (await expectedRows(store as Store)).map((r) => r.phone);
    const duplicates = kept.length - new Set(kept).size;
    expect(duplicates).toBeGreaterThan(0);
    const result = await run();
    expect(result).toMatchObject({
      status: "succeeded",
      received: 100,
      activated: 85 - duplicates,
      excluded: { missingMandatory: 15, duplicate: duplicates },
    });
    const rows = parseCsvFiles(
      delivered().map((f) => f.bytes),
      ",",
      false,
    );
    expect(new Set(rows.map((r) => r.phone)).size).toBe(rows.length);
    expect(new Set(rows.map((r) => r.phone))).toEqual(new Set(kept));
  });

  it("counts the duplicates before writing when the profiles with a key are over the file limit", async () => {
    const fixture = await activationFixture(engine);
    const kept = (await expectedRows(fixture.store)).map((r) => r.phone);
    await fixture.store.close();
    const unique = new Set(kept).size;
    expect(unique).toBeLessThan(85);
    // 85 profiles have a last name: over the limit until the duplicates are counted, then exactly at it.
    const fits = await setup(
      { compression: "none", maxRowsPerFile: unique, maxFiles: 1 },
      { mapping: phoneDeduplication },
    );
    expect(await fits.run()).toMatchObject({
      status: "succeeded",
      activated: unique,
      excluded: { missingMandatory: 15, duplicate: 85 - unique },
    });
    await store?.close();
    fs.rmSync(root, { recursive: true, force: true });
    const over = await setup(
      { compression: "none", maxRowsPerFile: unique - 1, maxFiles: 1 },
      { mapping: phoneDeduplication },
    );
    const refused = await over.run();
    expect(refused.status).toBe("failed");
    expect(refused.errors.join("\n")).toMatch(new RegExp(`${unique} rows.*2 files.*maxFiles`));
    expect(over.delivered()).toEqual([]);
  });

  it("writes a deduplicated audience as Parquet in several files on DuckDB, each profile once; refuses Parquet on PostgreSQL", async () => {
    const fixture = await setup(
      { format: "parquet", maxRowsPerFile: 30, maxFiles: 5 },
      { mapping: phoneDeduplication },
    );
    const kept = new Set((await expectedRows(store as Store)).map((r) => r.phone));
    const first = await fixture.run();
    if (engine === "postgres") {
      expect(first.status).toBe("failed");
      expect(first.errors.join("\n")).toMatch(/Parquet export needs the embedded DuckDB store/);
      return;
    }
    expect(first).toMatchObject({ status: "succeeded", activated: kept.size });
    expect(first.files).toHaveLength(Math.ceil(kept.size / 30));
    const files = first.files.map((f) => path.join(root, "out", f.name));
    const rows = await (store as Store).queryGlobal<{ phone: string }>(
      `SELECT phone FROM read_parquet([${files.map((f) => `'${f}'`).join(", ")}], filename = true, file_row_number = true)
        ORDER BY filename, file_row_number`,
    );
    expect(rows).toHaveLength(kept.size);
    expect(new Set(rows.map((r) => r.phone))).toEqual(kept);
    expect(first.files.map((f) => f.rows)).toEqual(
      first.files.map((_, i) => Math.min(30, kept.size - 30 * i)),
    );
    const second = await fixture.run();
    expect(second.files.map((f) => f.sha256)).toEqual(first.files.map((f) => f.sha256));
  });

  it("exports only the changes in incremental mode, with their statuses", async () => {
    const fixture = await setup(
      { format: "jsonl", compression: "none" },
      {
        segments: [
          {
            segmentId: FRENCH,
            schedule: { frequency: "daily", time: "06:00", timezone: "UTC" },
            fileNameTemplate: "changes_%DATETIME%",
            mode: "incremental",
          },
        ],
      },
    );
    const first = await fixture.run();
    expect(first.activated).toBe(85);
    // Profile 2 leaves France (exits), profile 3 moves there (realized); nothing else changes.
    const second = await fixture.runAfter([
      { ...fixtureProfile(2), homeAddress: { city: "Berlin", countryCode: "DE" } },
      { ...fixtureProfile(3), homeAddress: { city: "Paris", countryCode: "FR" } },
    ]);
    expect(second).toMatchObject({ status: "succeeded", received: 2, activated: 2 });
    const file = fixture.delivered().find((f) => f.name === "changes_20261121050000.jsonl");
    const lines = (file?.bytes.toString() ?? "")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { email: string; status: string });
    expect(lines.map((l) => [l.email, l.status]).sort()).toEqual([
      ["person2@example.com", "exited"],
      ["person3@example.com", "realized"],
    ]);
  });

  it("exports members that stayed through a later evaluation as existing, and one that entered in it as realized", async () => {
    const fixture = await setup({ format: "csv", compression: "none", maxRowsPerFile: 1000 });
    const statuses = (name: string) => {
      const file = fixture.delivered().find((f) => f.name === name);
      const rows = parseCsvFiles([file?.bytes ?? Buffer.alloc(0)], ",", false);
      return new Map(rows.map((r) => [r.email, r.status]));
    };
    expect((await fixture.run()).activated).toBe(85);
    expect(new Set(statuses("French-customers_20261120.csv").values())).toEqual(new Set(["realized"]));
    // Profile 3 moves to France; everyone else stays as they were.
    const second = await fixture.runAfter([
      { ...fixtureProfile(3), homeAddress: { city: "Paris", countryCode: "FR" } },
    ]);
    expect(second).toMatchObject({ status: "succeeded", activated: 86 });
    const after = statuses("French-customers_20261121.csv");
    expect(after.get("person3@example.com")).toBe("realized");
    expect([...after].filter(([, status]) => status === "existing")).toHaveLength(85);
  });

  it("fails a run whose audience needs more files than allowed, naming the setting, and writes nothing", async () => {
    const { run, delivered } = await setup({ maxRowsPerFile: 10, maxFiles: 5 });
    const result = await run();
    expect(result.status).toBe("failed");
    expect(result.errors.join("\n")).toMatch(/85 rows.*9 files.*maxFiles/);
    expect(delivered()).toEqual([]);
    // Counted before anything was written: every profile to send counts as not delivered.
    expect(result).toMatchObject({
      received: 100,
      activated: 0,
      failed: 85,
      excluded: { missingMandatory: 15, duplicate: 0 },
      files: [],
    });
  });

  it("records a run that fails part-way as partially succeeded: the files left at the destination and the profiles not sent", async () => {
    const refused = new HeraldError("auth_failed", "bad_credentials", "The pickup folder refused the login");
    const { run, delivered, attempted } = await setup(
      { compression: "none", maxRowsPerFile: 30 },
      {},
      new Map([[2, refused]]),
    );
    const result = await run();
    expect(result.status).toBe("partially_succeeded");
    expect(result.errors).toEqual(["attempt 1: The pickup folder refused the login"]);
    expect(attempted).toEqual(["French-customers_20261120.csv", "French-customers_20261120_2.csv"]);
    // Part 1 stays at the destination, recorded as it is on disk; parts 2 and 3 never arrived.
    const files = delivered();
    expect(files.map((f) => f.name)).toEqual(["French-customers_20261120.csv"]);
    expect(result.files.map((f) => [f.name, f.rows, f.bytes, f.sha256])).toEqual(
      files.map((f) => [f.name, 30, f.bytes.length, sha256(f.bytes)]),
    );
    expect(parseCsvFiles([files[0]?.bytes ?? Buffer.alloc(0)], ",", false)).toHaveLength(30);
    // 100 received = 30 delivered + 55 not delivered + 15 excluded.
    expect(result).toMatchObject({
      received: 100,
      activated: 30,
      failed: 55,
      excluded: { missingMandatory: 15, duplicate: 0 },
    });
    expect(await getRun(store as Store, sandbox, result.id)).toMatchObject({
      status: "partially_succeeded",
      activated: 30,
      failed: 55,
      files: result.files,
    });
  });

  it("records each file on its run once delivered, so a process that dies tells them; cancelled, a run names its canceller", async () => {
    const controller = new AbortController();
    let midRun: Run | undefined;
    const { run, delivered } = await setup(
      { compression: "none", maxRowsPerFile: 30 },
      {},
      new Map(),
      undefined,
      async (attempt) => {
        if (attempt !== 3) return;
        // Parts 1 and 2 are at the destination: the run's record says so while it goes on (written
        // by the run's queue of row writes, soon after each file).
        await vi.waitFor(async () => {
          [midRun] = await listRuns(store as Store, sandbox);
          expect(midRun?.files).toHaveLength(2);
        });
        controller.abort(
          new HeraldError(
            "conflict",
            "export_cancelled",
            "cancelled: the herald command was interrupted (Ctrl-C)",
          ),
        );
      },
    );
    const result = await run(controller.signal);
    const names = ["French-customers_20261120.csv", "French-customers_20261120_2.csv"];
    expect(midRun).toMatchObject({ status: "running", activated: 0 });
    expect(midRun?.files.map((f) => [f.name, f.rows])).toEqual(names.map((name) => [name, 30]));
    expect(midRun?.bytes).toBe(delivered().reduce((sum, f) => sum + f.bytes.length, 0));
    expect(result).toMatchObject({ status: "partially_succeeded", activated: 60, failed: 25 });
    expect(result.errors).toEqual(["attempt 1: cancelled: the herald command was interrupted (Ctrl-C)"]);
    expect(delivered().map((f) => f.name)).toEqual(names);
  });

  it("retries the segment when the destination fails transiently, rewriting the same names, and delivers every file", async () => {
    const unavailable = new HeraldError("unavailable", "folder_unavailable", "The pickup share is offline");
    const { run, delivered, attempted } = await setup(
      { compression: "none", maxRowsPerFile: 30 },
      {},
      // Attempt 1 fails on part 2, attempt 2 on part 1; attempt 3 goes through.
      new Map([
        [2, unavailable],
        [3, unavailable],
      ]),
    );
    const result = await run();
    expect(result).toMatchObject({ status: "succeeded", received: 100, activated: 85, failed: 0 });
    // The run says it took three attempts, and why.
    expect(result.errors).toEqual([
      "attempt 1: The pickup share is offline",
      "attempt 2: The pickup share is offline",
    ]);
    const [first, second, third] = ["", "_2", "_3"].map((suffix) => `French-customers_20261120${suffix}.csv`);
    expect(attempted).toEqual([first, second, first, first, second, third]);
    const files = delivered();
    expect(result.files.map((f) => [f.name, f.bytes, f.sha256])).toEqual(
      files.map((f) => [f.name, f.bytes.length, sha256(f.bytes)]),
    );
    const rows = parseCsvFiles(
      files.map((f) => f.bytes),
      ",",
      false,
    );
    expect(rows.map((r) => r.email)).toEqual((await expectedRows(store as Store)).map((e) => e.email));
  });

  it.each([
    ["unavailable", 6],
    ["auth_failed", 1],
  ] as const)(
    "gives up on a destination that keeps failing with %s after %i attempt(s)",
    async (kind, attempts) => {
      const failure = new HeraldError(kind, "folder_failed", "The pickup share refused the file");
      const { run, delivered, attempted } = await setup(
        { compression: "none" },
        {},
        new Map([1, 2, 3, 4, 5, 6, 7].map((upload) => [upload, failure])),
      );
      const result = await run();
      expect(result.status).toBe("failed");
      expect(result.errors).toEqual(
        Array.from({ length: attempts }, (_, i) => `attempt ${i + 1}: The pickup share refused the file`),
      );
      expect(attempted).toHaveLength(attempts);
      expect(delivered()).toEqual([]);
    },
  );

  it("reports an aborted run as failed with its cause and leaves no file", async () => {
    const { run, delivered } = await setup({ maxRowsPerFile: 30 });
    const controller = new AbortController();
    controller.abort(new Error("Herald is shutting down"));
    const result = await run(controller.signal);
    expect(result.status).toBe("failed");
    expect(result.errors.join("\n")).toMatch(/shutting down/);
    expect(delivered()).toEqual([]);
    expect((await getRun(store as Store, sandbox, result.id)).status).toBe("failed");
  });
});
