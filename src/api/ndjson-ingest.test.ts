import { describe, expect, it } from "vitest";
import { HeraldError } from "../errors/index.ts";
import type { IngestReport } from "../profiles/index.ts";
import { ingestNdjson } from "./ndjson-ingest.ts";

/** `count` lines, record `n` on line n + 1; the records at the positions in `bad` are not JSON. */
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
  it("stores every good line and reports the bad ones by line number, from 1", async () => {
    const { stored, ingest } = fakeIngest(new Map());
    const report = await ingestNdjson([lines(25, [3, 21])], options(ingest));
    expect(report).toMatchObject({ received: 25, stored: 23, rejected: 2, issuesTruncated: false });
    expect(report.interruption).toBeUndefined();
    expect(report.issues.map((i) => i.row)).toEqual([4, 22]);
    expect(stored.sort((a, b) => a - b)).toEqual(rowsExcept(25, (n) => n === 3 || n === 21));
  });

  it("stops sending at a failed chunk and names the rows not ingested, beside those rejected", async () => {
    const { stored, ingest } = fakeIngest(new Map([[11, unavailable]]));
    const report = await ingestNdjson([lines(200, [5, 12, 35])], options(ingest));
    const error = report.interruption as HeraldError;
    expect(error.kind).toBe("unavailable");
    expect(error.code).toBe("stream_interrupted");
    expect(error.message).toMatch(/^The stream's ingestion failed at row 11: the store is unreachable\./);
    expect(error.issues).toEqual([
      { row: 6, message: expect.stringMatching(/^line is not valid JSON/) },
      { row: 11, message: "rows 11-20 not stored: the store is unreachable" },
      { row: 13, message: expect.stringMatching(/^line is not valid JSON/) },
      {
        row: 21,
        message: "rows from 21 on (if the stream had more) not ingested: ingestion stopped at the failure",
      },
    ]);
    expect(stored).toEqual(rowsExcept(10, (n) => n === 5));
    expect(report).toMatchObject({ stored: 9, issues: error.issues });
  });

  it("names a failed chunk between stored ones: what was stored need not be a prefix", async () => {
    const { stored, ingest } = fakeIngest(new Map([[11, unavailable]]), true);
    const report = await ingestNdjson([lines(45)], options(ingest));
    // The other chunks were handled while the failing one was in flight: every row was sent.
    expect(report.interruption?.issues).toEqual([
      { row: 11, message: "rows 11-20 not stored: the store is unreachable" },
    ]);
    expect(stored.sort((a, b) => a - b)).toEqual(rowsExcept(45, (n) => n >= 10 && n < 20));
    expect(report.stored).toBe(35);
  });

  it("shows an unexpected fault only by a reference, and logs it in full", async () => {
    const secret = new Error("connect ECONNREFUSED postgres://herald:s3cret@db/herald");
    const { ingest } = fakeIngest(new Map([[1, secret]]));
    const logged: [unknown, string][] = [];
    const report = await ingestNdjson([lines(5)], {
      ...options(ingest),
      logFault: (error: unknown, reference: string) => logged.push([error, reference]),
    });
    const error = report.interruption as HeraldError;
    expect(error.kind).toBe("internal");
    expect(logged).toEqual([[secret, expect.any(String)]]);
    expect(error.issues).toEqual([
      { row: 1, message: `rows 1-5 not stored: internal error (reference ${logged[0]?.[1]})` },
    ]);
    expect(JSON.stringify(error.issues) + error.message).not.toContain("s3cret");
  });

  it("numbers rows as lines: blank lines are counted, a leading byte-order mark is dropped, bytes not UTF-8 are rejected", async () => {
    const { stored, ingest } = fakeIngest(new Map());
    const body = Buffer.concat([
      Buffer.from('\ufeff{"n":0}\n\n{"n":1}\n   \n{oops\n{"n":"', "utf8"),
      Buffer.from([0xe9]),
      Buffer.from('"}\n{"n":3}\n', "utf8"),
    ]);
    const report = await ingestNdjson([body], options(ingest));
    expect(report).toMatchObject({ received: 5, stored: 3, rejected: 2 });
    expect(report.issues).toEqual([
      { row: 5, message: expect.stringMatching(/^line is not valid JSON/) },
      { row: 6, message: "not UTF-8" },
    ]);
    expect(stored.sort()).toEqual([0, 1, 3]);
  });

  it("gives each record of a chunk its own line when blank lines fall inside the chunk", async () => {
    const rows: number[] = [];
    const report = await ingestNdjson(['{"n":1}\n\n\n{"n":4}\n{"n":5}\n\n{"n":7}\n'], {
      ...options(async (records, firstRow) => {
        records.forEach((r, i) => {
          if (r !== undefined) rows.push(firstRow + i);
        });
        return { received: 0, stored: 0, rejected: 0, issues: [], profileIds: [] };
      }),
      chunkRecords: 3,
    });
    expect(report.received).toBe(4);
    expect(rows).toEqual([1, 4, 5, 7]);
  });
});
