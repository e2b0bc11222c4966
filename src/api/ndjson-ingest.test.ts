import { describe, expect, it } from "vitest";
import { HeraldError } from "../errors/index.ts";
import type { IngestReport } from "../profiles/index.ts";
import { ingestNdjson } from "./ndjson-ingest.ts";

const lines = (count: number, bad: number[] = []) =>
  Array.from({ length: count }, (_, i) => (bad.includes(i) ? "{oops" : JSON.stringify({ n: i }))).join("\n");

/**
 * Stores every record it is given at once, except the chunks starting at the rows in `failAt`:
 * those fail at once, or after a timer (`late`), when every other chunk has been handled.
 */
function fakeIngest(failAt: Map<number, Error>, late = false) {
  const stored: number[] = [];
  const ingest = async (records: unknown[], firstRow: number): Promise<IngestReport> => {
    const failure = failAt.get(firstRow);
    if (failure && late) await new Promise((resolve) => setTimeout(resolve, 5));
    if (failure) throw failure;
    const kept = records.filter((r): r is { n: number } => r !== undefined);
    stored.push(...kept.map((r) => r.n));
    return { received: kept.length, stored: kept.length, rejected: 0, issues: [], profileIds: [] };
  };
  return { stored, ingest };
}

const options = (ingest: ReturnType<typeof fakeIngest>["ingest"]) => ({
  maxLineBytes: 100,
  chunkRecords: 10,
  ingest,
  logFault: () => {},
});
const rowsExcept = (count: number, skip: (n: number) => boolean) =>
  [...Array(count).keys()].filter((n) => !skip(n));
const unavailable = new HeraldError("unavailable", "store_unavailable", "the store is unreachable");

describe("ingesting a newline-delimited stream", () => {
  it("stores every good line and reports the bad ones by row", async () => {
    const { stored, ingest } = fakeIngest(new Map());
    const report = await ingestNdjson([lines(25, [3, 21])], options(ingest));
    expect(report).toMatchObject({ received: 25, stored: 23, rejected: 2, issuesTruncated: false });
    expect(report.interruption).toBeUndefined();
    expect(report.issues.map((i) => i.row)).toEqual([3, 21]);
    expect(stored.sort((a, b) => a - b)).toEqual(rowsExcept(25, (n) => n === 3 || n === 21));
  });

  it("stops sending at a failed chunk and names the rows not ingested, beside those rejected", async () => {
    const { stored, ingest } = fakeIngest(new Map([[10, unavailable]]));
    const report = await ingestNdjson([lines(200, [5, 12, 35])], options(ingest));
    const error = report.interruption as HeraldError;
    expect(error.kind).toBe("unavailable");
    expect(error.code).toBe("stream_interrupted");
    expect(error.message).toMatch(/^The stream's ingestion failed at row 10: the store is unreachable\./);
    expect(error.issues).toEqual([
      { row: 5, message: expect.stringMatching(/^line is not valid JSON/) },
      { row: 10, message: "rows 10-19 not stored: the store is unreachable" },
      { row: 12, message: expect.stringMatching(/^line is not valid JSON/) },
      {
        row: 20,
        message: "rows from 20 on (if the stream had more) not ingested: ingestion stopped at the failure",
      },
    ]);
    expect(stored).toEqual(rowsExcept(10, (n) => n === 5));
    expect(report).toMatchObject({ stored: 9, issues: error.issues });
  });

  it("names a failed chunk between stored ones: what was stored need not be a prefix", async () => {
    const { stored, ingest } = fakeIngest(new Map([[10, unavailable]]), true);
    const report = await ingestNdjson([lines(45)], options(ingest));
    // The other chunks were handled while the failing one was in flight: every row was sent.
    expect(report.interruption?.issues).toEqual([
      { row: 10, message: "rows 10-19 not stored: the store is unreachable" },
    ]);
    expect(stored.sort((a, b) => a - b)).toEqual(rowsExcept(45, (n) => n >= 10 && n < 20));
    expect(report.stored).toBe(35);
  });

  it("shows an unexpected fault only by a reference, and logs it in full", async () => {
    const secret = new Error("connect ECONNREFUSED postgres://herald:s3cret@db/herald");
    const { ingest } = fakeIngest(new Map([[0, secret]]));
    const logged: [unknown, string][] = [];
    const report = await ingestNdjson([lines(5)], {
      ...options(ingest),
      logFault: (error: unknown, reference: string) => logged.push([error, reference]),
    });
    const error = report.interruption as HeraldError;
    expect(error.kind).toBe("internal");
    expect(logged).toEqual([[secret, expect.any(String)]]);
    expect(error.issues).toEqual([
      { row: 0, message: `rows 0-4 not stored: internal error (reference ${logged[0]?.[1]})` },
    ]);
    expect(JSON.stringify(error.issues) + error.message).not.toContain("s3cret");
  });
});
