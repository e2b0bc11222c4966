import { randomUUID } from "node:crypto";
import { HeraldError, type Issue, isHeraldError } from "../errors/index.ts";
import type { IngestReport } from "../profiles/index.ts";
import { ndjsonLines } from "./ndjson-lines.ts";

/** Records per queued chunk of a stream, and chunks in flight: enough to fill a commit, bounded memory. */
const CHUNK_RECORDS = 1_000;
const CHUNKS_IN_FLIGHT = 4;
const MAX_ISSUES = 1_000;

export interface StreamReport {
  received: number;
  stored: number;
  rejected: number;
  issues: Issue[];
  issuesTruncated: boolean;
  /** Set when a chunk failed: the error to answer with, its issues naming the rows not stored. */
  interruption?: HeraldError;
}

export interface StreamIngestOptions {
  /** A record may take no more than this: a longer line is rejected by its row, never held whole. */
  maxLineBytes: number;
  /** Ingests one chunk; `records` holds `undefined` for lines rejected already (skip them). */
  ingest: (records: unknown[], firstRow: number) => Promise<IngestReport>;
  /** Where a fault that is not a HeraldError goes in full; the caller sees only its reference. */
  logFault: (error: unknown, reference: string) => void;
  chunkRecords?: number;
}

/** The rows of one chunk sent to ingestion, and whether it was stored. */
interface Chunk {
  first: number;
  rows: number;
  failed: boolean;
}

const byRow = (issues: Issue[]) => issues.sort((a, b) => (a.row ?? 0) - (b.row ?? 0));

const span = (first: number, rows: number) =>
  rows === 1 ? `row ${first}` : `rows ${first}-${first + rows - 1}`;

/**
 * Reads newline-delimited JSON and ingests it in chunks, with a bounded number of chunks in flight
 * (back-pressure on the body). Rows are line numbers from 1, as in a JSON Lines file: a blank line
 * is skipped but counted (its place in a chunk is left empty, so that `firstRow + i` stays the row
 * of a chunk's record `i`).
 *
 * If ingesting a chunk fails (the store unreachable), reading stops, the chunks in flight finish,
 * and the report carries an error (`interruption`) saying which rows were not stored (its issues, one per range; rejected rows among
 * them are counted there too): chunks commit on their own and in parallel, so what was stored is
 * not always a prefix, and the caller resends exactly those rows instead of the whole stream.
 */
export async function ingestNdjson(
  body: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  options: StreamIngestOptions,
): Promise<StreamReport> {
  const chunkRecords = options.chunkRecords ?? CHUNK_RECORDS;
  const totals = { received: 0, stored: 0, rejected: 0 };
  const issues: Issue[] = [];
  let truncated = false;
  const addIssues = (more: Issue[]) => {
    for (const issue of more) {
      if (issues.length < MAX_ISSUES) issues.push(issue);
      else truncated = true;
    }
  };
  const chunks: Chunk[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const submit = (records: unknown[], first: number) => {
    const chunk: Chunk = { first, rows: records.length, failed: false };
    chunks.push(chunk);
    const done: Promise<void> = options
      .ingest(records, first)
      .then((report) => {
        totals.stored += report.stored;
        totals.rejected += report.rejected;
        addIssues(report.issues);
      })
      .catch((error: unknown) => {
        chunk.failed = true;
        failure ??= error;
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  };
  let chunk: unknown[] = [];
  let chunkStart = 1;
  let row = 0;
  let stopped = false;
  for await (const line of ndjsonLines(body, options.maxLineBytes)) {
    row++;
    // A bad line is rejected on its own; the chunk keeps a placeholder, skipped when ingesting.
    const reject = (message: string) => {
      chunk.push(undefined);
      totals.rejected++;
      addIssues([{ row, message }]);
    };
    if ("text" in line && !line.text.trim()) chunk.push(undefined);
    else {
      totals.received++;
      if ("tooLongBytes" in line) {
        reject(
          `line is ${line.tooLongBytes} bytes, over the ${options.maxLineBytes} a record may take (HERALD_MAX_BODY_BYTES)`,
        );
      } else if ("notUtf8" in line) {
        reject("not UTF-8");
      } else {
        try {
          chunk.push(JSON.parse(line.text));
        } catch (error) {
          reject(`line is not valid JSON: ${(error as Error).message}`);
        }
      }
    }
    if (chunk.length >= chunkRecords) {
      // After a failure nothing more is sent: the rows from this chunk's first on are left out.
      if (failure) {
        stopped = true;
        break;
      }
      submit(chunk, chunkStart);
      chunk = [];
      chunkStart = row + 1;
      while (inFlight.size >= CHUNKS_IN_FLIGHT) await Promise.race(inFlight);
    }
  }
  if (chunk.length && !stopped) {
    if (failure) stopped = true;
    else submit(chunk, chunkStart);
  }
  await Promise.all(inFlight);
  if (failure) {
    const error = interruption(failure, chunks, stopped ? chunkStart : undefined, options.logFault);
    addIssues(error.issues);
    error.issues.splice(0, error.issues.length, ...byRow(issues));
    return { ...totals, issues: error.issues, issuesTruncated: truncated, interruption: error };
  }
  return { ...totals, issues: byRow(issues), issuesTruncated: truncated };
}

/** The error a stream ends with when a chunk failed: the cause, and each range of rows not stored. */
function interruption(
  failure: unknown,
  chunks: readonly Chunk[],
  unsentFrom: number | undefined,
  logFault: StreamIngestOptions["logFault"],
): HeraldError {
  let cause: string;
  if (isHeraldError(failure)) cause = failure.message;
  else {
    const reference = randomUUID();
    logFault(failure, reference);
    cause = `internal error (reference ${reference})`;
  }
  const notStored: Issue[] = chunks
    .filter((c) => c.failed)
    .map((c) => ({ row: c.first, message: `${span(c.first, c.rows)} not stored: ${cause}` }));
  if (unsentFrom !== undefined) {
    notStored.push({
      row: unsentFrom,
      message: `rows from ${unsentFrom} on (if the stream had more) not ingested: ingestion stopped at the failure`,
    });
  }
  return new HeraldError(
    isHeraldError(failure) ? failure.kind : "internal",
    "stream_interrupted",
    `The stream's ingestion failed at row ${notStored[0]?.row}: ${cause}. The issues name the rows not stored (send them again) beside those rejected; the others were stored`,
    notStored,
  );
}
