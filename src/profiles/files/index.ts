import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Store } from "../../store/index.ts";
import type { IngestReport } from "../ingest-records.ts";
import { type BulkSource, bulkLoadEvents, bulkLoadProfiles } from "./duckdb-bulk.ts";
import { describeInput, type FileFormat } from "./input.ts";
import { IssueCollector } from "./issues.ts";
import { readJsonLines } from "./json-lines.ts";
import {
  type LoadContext,
  type LoadCounts,
  loadEventRows,
  loadProfileRows,
  loadRecords,
} from "./load-rows.ts";
import {
  openCsvRows,
  openParquetRows,
  parquetTextColumns,
  plainParquetPath,
  probeParquet,
  readCsvHeader,
  type TextRows,
} from "./text-sources.ts";

export { parseCell, parseFileTimestamp } from "./cells.ts";
export { MAX_ROW_CHARS } from "./csv-tokenizer.ts";
export type { FileFormat } from "./input.ts";
export { MAX_REPORTED_ISSUES } from "./issues.ts";

export interface IngestFileOptions {
  path: string;
  kind: "profiles" | "events";
  /** Default: from the file name (`.csv`, `.tsv`, `.jsonl`, `.ndjson`, `.parquet`, each maybe `.gz`), else the content. */
  format?: FileFormat;
  /** CSV delimiter, one character. Default: tab for `.tsv`, else comma. */
  delimiter?: string;
  /** Called now and then with the number of rows read so far. */
  onProgress?: (rows: number) => void;
}

/** A file's report: `issues` lists the first `MAX_REPORTED_ISSUES`; `issueCount` counts them all. */
export interface FileIngestReport extends IngestReport {
  issueCount: number;
}

/**
 * Loads a profiles or events file (CSV, JSON Lines or Parquet, optionally gzip-compressed) into a
 * sandbox, streaming: memory stays bounded whatever the file's size. Bad rows are reported with
 * their row number, field and reason, and the good rows are stored. A header naming an unknown
 * field fails the whole file before anything is stored. See docs/ingestion.md.
 *
 * @example
 *   const report = await ingestFile(store, schema, { path: "profiles.csv.gz", kind: "profiles" });
 */
export async function ingestFile(
  store: Store,
  schema: SchemaSnapshot,
  options: IngestFileOptions,
): Promise<FileIngestReport> {
  const input = describeInput(options.path, options.format);
  const collector = new IssueCollector();
  const context: LoadContext = {
    store,
    schema,
    file: options.path,
    collector,
    now: new Date(),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  let counts: LoadCounts;
  const delimiter = options.delimiter ?? input.defaultDelimiter;
  // On DuckDB, CSV and Parquet files take the bulk path: their rows never become JavaScript values.
  const bulk = store.engine === "duckdb" && input.format !== "jsonl";
  const bulkLoad = (source: BulkSource) =>
    options.kind === "profiles" ? bulkLoadProfiles(context, source) : bulkLoadEvents(context, source);
  if (bulk && input.format === "csv") {
    const header = await readCsvHeader(input, delimiter);
    counts = await bulkLoad({ kind: "csv", input, delimiter, header });
  } else if (bulk && input.format === "parquet") {
    const { file, cleanup } = await plainParquetPath(input);
    try {
      const columns = parquetTextColumns(...(await probeParquet(file, input.path)));
      counts = await bulkLoad({
        kind: "parquet",
        file,
        header: columns.map((c) => c.name),
        textColumns: columns.map((c) => c.sql),
      });
    } finally {
      cleanup();
    }
  } else if (input.format === "jsonl") {
    counts = await loadRecords(context, options.kind, readJsonLines(input));
  } else {
    const source: TextRows =
      input.format === "csv" ? await openCsvRows(input, delimiter) : await openParquetRows(input);
    try {
      counts =
        options.kind === "profiles"
          ? await loadProfileRows(context, source)
          : await loadEventRows(context, source);
    } finally {
      await source.close();
    }
  }
  return {
    received: counts.received,
    stored: counts.stored,
    rejected: collector.rejectedRows,
    issues: collector.issues,
    issueCount: collector.total,
    // A file can hold millions of profiles: listing them would defeat streaming. After a file load,
    // audiences are brought up to date by batch evaluation rather than per profile.
    profileIds: [],
  };
}
