import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createDataflow, runSegmentExport } from "../../src/activation/index.ts";
import { createAccount } from "../../src/destinations/index.ts";
import { isHeraldError } from "../../src/errors/index.ts";
import { createSegment, evaluateSegments, updateSegment } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import { activationFixture, dataflowFor, FRENCH, sandbox } from "../support/activation.ts";

const scheduledFor = new Date("2026-11-20T06:00:00Z");
const daily = { frequency: "daily", time: "06:00", timezone: "UTC" };

/**
 * File names rendered as a run renders them, checked when a dataflow is saved (two segments writing
 * one name, a name over 255 UTF-8 bytes) and when a run starts (before its first file).
 */
describe("rendered file names", () => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    store = undefined;
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function setUp() {
    const fixture = await activationFixture("duckdb", 200);
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-names-"));
    fs.mkdirSync(path.join(root, "out"));
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "pickup folder",
      connection: { root },
    });
    const save = (overrides: Record<string, unknown>) =>
      createDataflow(
        fixture.deps,
        sandbox,
        dataflowFor(account.id, { details: { folderPath: "out" }, ...overrides }),
        scheduledFor,
      );
    return { ...fixture, save };
  }

  async function refusal(promise: Promise<unknown>) {
    try {
      await promise;
    } catch (error) {
      if (isHeraldError(error)) return error.issues;
      throw error;
    }
    return [];
  }

  const perSegment = (...ids: string[]) =>
    ids.map((segmentId) => ({
      segmentId,
      schedule: daily,
      fileNameTemplate: "%SEGMENT_NAME%_%DATETIME(yyyyMMdd)%",
    }));

  /** Two segments, of the French and of the German profiles, by id and name. */
  async function frenchAndGerman(db: Store, french: [string, string], german: [string, string]) {
    for (const [[id, name], country] of [
      [french, "FR"],
      [german, "DE"],
    ] as const)
      await createSegment(db, sandbox, { id, name, definition: `homeAddress.countryCode = "${country}"` });
  }

  it("gives segments named in other scripts files of their own", async () => {
    const fixture = await setUp();
    await frenchAndGerman(fixture.store, ["jp", "日本の顧客"], ["cn", "中国の顧客"]);
    await evaluateSegments(fixture.store, sandbox, fixture.schema, ["jp", "cn"]);
    const dataflow = await fixture.save({
      fileOptions: { format: "csv", compression: "none" },
      segments: perSegment("jp", "cn"),
    });
    for (const segmentId of ["jp", "cn"]) {
      const run = await runSegmentExport(fixture.deps, sandbox, {
        dataflowId: dataflow.id,
        segmentId,
        trigger: "manual",
        scheduledFor,
      });
      expect(run.status).toBe("succeeded");
    }
    expect(fs.readdirSync(path.join(root, "out")).sort()).toEqual([
      "中国の顧客_20261120.csv",
      "日本の顧客_20261120.csv",
    ]);
  });

  it("refuses two segments whose names render alike (punctuation, case), naming both", async () => {
    const fixture = await setUp();
    await frenchAndGerman(fixture.store, ["p1", "Clients: Paris"], ["p2", "clients / paris"]);
    expect(
      await refusal(fixture.save({ fileOptions: { compression: "none" }, segments: perSegment("p1", "p2") })),
    ).toEqual([
      {
        field: "segments.1.fileNameTemplate",
        message:
          "segments.1.fileNameTemplate: segments.1 ('clients / paris') and segments.0 ('Clients: Paris') would both write 'clients-paris_20261120.csv' (names are compared regardless of case), so one's file would replace the other's at the destination; tell them apart with %SEGMENT_ID%",
      },
    ]);
  });

  it("refuses a template over 255 bytes at its longest (placeholders expanded, the manifest), naming the field and the length", async () => {
    const fixture = await setUp();
    const issues = await refusal(
      fixture.save({
        name: "D".repeat(200),
        fileOptions: { format: "csv", compression: "none", manifest: true, maxRowsPerFile: 50, maxFiles: 10 },
        segments: [
          {
            segmentId: FRENCH,
            schedule: daily,
            fileNameTemplate: `%DATAFLOW_NAME%%TEXT(${"a".repeat(36)})%_%DATETIME(yyyyMMdd)%`,
          },
        ],
      }),
    );
    expect(issues).toEqual([
      {
        field: "segments.0.fileNameTemplate",
        message: expect.stringMatching(
          /^segments\.0\.fileNameTemplate: the longest file name it can give, its manifest 'manifest-D{200}a{36}_\d{8}\.json', is 259 bytes in UTF-8; the limit is 255 bytes/,
        ),
      },
    ]);
  });

  it("fails a run whose names grew past the limit since it was saved before it delivers any file", async () => {
    const fixture = await setUp();
    const dataflow = await fixture.save({
      fileOptions: { format: "csv", compression: "none", manifest: true, maxRowsPerFile: 20, maxFiles: 20 },
    });
    // Renamed after the dataflow was saved to 118 characters, 236 bytes: part 1 (236 + 13 bytes)
    // would fit, the manifest (9 bytes more, and `.json`) would not.
    await updateSegment(fixture.store, sandbox, FRENCH, { name: "é".repeat(118) });
    const run = await runSegmentExport(fixture.deps, sandbox, {
      dataflowId: dataflow.id,
      segmentId: FRENCH,
      trigger: "manual",
      scheduledFor,
    });
    expect(run.status).toBe("failed");
    expect(run.files).toEqual([]);
    expect(run.errors.join(" ")).toMatch(/is 259 bytes in UTF-8; the limit is 255 bytes/);
    expect(fs.readdirSync(path.join(root, "out"))).toEqual([]);
  });
});
