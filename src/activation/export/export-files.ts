import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { PublicKey } from "openpgp";
import { encryptedFor } from "../../crypto/index.ts";
import type { FileSession } from "../../destinations/index.ts";
import { validationError } from "../../errors/index.ts";
import type { ExportFormat, ExportPlan, ExportStatement, Store } from "../../store/index.ts";
import type { FileOptions } from "./file-options.ts";
import { gzipInParallel } from "./parallel-gzip.ts";
import { RowSplitter } from "./row-splitter.ts";

export interface ExportedFile {
  name: string;
  location: string;
  rows: number;
  bytes: number;
  sha256: string;
}

export interface ExportRequest {
  store: Store;
  sandbox: string;
  /**
   * SELECT of the mapped columns, output names as aliases, ending in ORDER BY a unique key; `plan`,
   * the same rows in another fixed order (its queries without parameters of their own), is
   * exported instead when given.
   */
  query: { sql: string; params: readonly unknown[]; plan?: ExportPlan };
  options: FileOptions;
  /** The file name of part 1, 2, ... (extension included). */
  fileName: (part: number) => string;
  session: FileSession;
  /** The account's OpenPGP key: each file is encrypted to it after compression, as it streams. */
  encryptTo?: PublicKey;
  signal?: AbortSignal;
  onProgress?: (rowsWritten: number) => void;
  /** Called as each file is delivered under its final name: a later failure leaves it there. */
  onFile?: (file: ExportedFile) => void;
  /**
   * The query's row count, or a bound it cannot exceed, when the caller knows one (saves a full
   * pass over the audience); the file limit is checked against it.
   */
  rows?: number;
}

function engineFormat(options: FileOptions): ExportFormat {
  switch (options.format) {
    case "csv":
      return { type: "csv", ...options.csv };
    case "jsonl":
      return { type: "jsonl" };
    default:
      return { type: "parquet" };
  }
}

interface Tally {
  bytes: number;
  hash: ReturnType<typeof createHash>;
}

/** A file's bytes as delivered: encrypted to the account's key when it has one. */
function delivered(request: ExportRequest, body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  return request.encryptTo ? encryptedFor(body, request.encryptTo) : body;
}

/** Counts and checksums the bytes on their way to the destination. */
async function* measured(source: AsyncIterable<Buffer>, into: Tally) {
  for await (const chunk of source) {
    into.bytes += chunk.length;
    into.hash.update(chunk);
    yield chunk;
  }
}

/** Adds a delivered file to the export's list and tells the caller at once (a later part may fail). */
function recordDelivery(
  request: ExportRequest,
  files: ExportedFile[],
  delivery: { name: string; rows: number; location: string; tally: Tally },
) {
  const { name, rows, location, tally } = delivery;
  const file = { name, location, rows, bytes: tally.bytes, sha256: tally.hash.digest("hex") };
  files.push(file);
  request.onFile?.(file);
}

async function countRows(request: ExportRequest): Promise<number> {
  const [row] = await request.store.query<{ n: number }>(
    request.sandbox,
    `SELECT count(*) AS n FROM (${request.query.sql}) AS audience`,
    request.query.params,
  );
  return Number(row?.n ?? 0);
}

/**
 * Exports a query's rows to files at a destination, streaming end to end: the engine writes the
 * bytes, Node splits them into files of at most `maxRowsPerFile` rows, gzips them on every core and
 * hands each file to the connector, which makes it visible only once complete.
 */
export async function exportToFiles(request: ExportRequest): Promise<ExportedFile[]> {
  const { options } = request;
  const total = request.rows ?? (await countRows(request));
  const rowsPerFile = options.maxRowsPerFile ?? Math.max(total, 1);
  const neededFiles = Math.max(1, Math.ceil(total / rowsPerFile));
  if (neededFiles > options.maxFiles) {
    throw validationError(
      `The audience has ${total} rows: at most ${rowsPerFile} rows per file needs ${neededFiles} files, over the limit of ${options.maxFiles} files per segment; raise maxRowsPerFile or maxFiles`,
      [{ field: "maxFiles", message: `needs ${neededFiles} files` }],
    );
  }
  if (options.format === "parquet") return exportParquet(request, total, rowsPerFile, neededFiles);

  const { plan } = request.query;
  const stream = plan
    ? request.store.exportPlan(request.sandbox, plan, engineFormat(options))
    : request.store.exportQuery(
        request.sandbox,
        request.query.sql,
        request.query.params,
        engineFormat(options),
      );
  const csv = options.format === "csv";
  const splitter = new RowSplitter(stream, {
    maxRows: rowsPerFile,
    header: csv && options.csv.header,
    quote: csv ? options.csv.quote : "",
    escape: csv ? options.csv.escape : "",
  });
  const files: ExportedFile[] = [];
  let written = 0;
  try {
    for (let part = 1; part === 1 || (await splitter.hasMore()); part++) {
      let rows = 0;
      const records = splitter.nextFile((n) => {
        rows += n;
        written += n;
        request.onProgress?.(written);
      });
      const body =
        options.compression === "gzip"
          ? gzipInParallel(records, { level: options.compressionLevel })
          : records;
      const tally: Tally = { bytes: 0, hash: createHash("sha256") };
      const name = request.fileName(part);
      const put = await request.session.putFile(
        name,
        Readable.from(measured(delivered(request, body), tally)),
        {
          ...(request.signal ? { signal: request.signal } : {}),
        },
      );
      recordDelivery(request, files, { name, rows, location: put.location, tally });
    }
  } finally {
    stream.destroy();
  }
  return files;
}

/**
 * A plan's queries as one (Parquet takes one query per file), their rows in the same order (DuckDB
 * keeps the order of `UNION ALL` and of `LIMIT` / `OFFSET`), optionally one page of them.
 */
function asOneQuery(plan: ExportPlan, page?: { limit: number; offset: number }): ExportStatement {
  if (plan.queries.some((q) => q.params.length))
    throw new Error("a plan's queries are joined into one only without parameters of their own");
  const union = plan.queries.map((q) => `(${q.sql})`).join(" UNION ALL ");
  const sql = page
    ? `SELECT * FROM (${union}) AS audience LIMIT ${Math.trunc(page.limit)} OFFSET ${Math.trunc(page.offset)}`
    : union;
  return { sql, params: [] };
}

/**
 * Parquet is binary: each part is its own engine query, a page of the rows in the plan's order or
 * the query's profile-id order, all in one export session (the plan's setup runs once).
 */
async function exportParquet(
  request: ExportRequest,
  total: number,
  rowsPerFile: number,
  parts: number,
): Promise<ExportedFile[]> {
  const { plan } = request.query;
  const pages = Array.from({ length: parts }, (_p, i) =>
    parts === 1 ? undefined : { limit: rowsPerFile, offset: i * rowsPerFile },
  );
  const queries = pages.map((page): ExportStatement => {
    if (plan) return asOneQuery(plan, page);
    const params = [...request.query.params];
    const sql = page
      ? `${request.query.sql} LIMIT $${params.push(page.limit)} OFFSET $${params.push(page.offset)}`
      : request.query.sql;
    return { sql, params };
  });
  const streams = request.store.exportPlanFiles(
    request.sandbox,
    { setup: plan?.setup ?? [], queries },
    { type: "parquet" },
  );
  const files: ExportedFile[] = [];
  for await (const stream of streams) {
    const part = files.length + 1;
    const tally: Tally = { bytes: 0, hash: createHash("sha256") };
    const name = request.fileName(part);
    const put = await request.session.putFile(
      name,
      Readable.from(measured(delivered(request, stream), tally)),
      {
        ...(request.signal ? { signal: request.signal } : {}),
      },
    );
    const rows = Math.min(rowsPerFile, total - (part - 1) * rowsPerFile);
    request.onProgress?.(Math.min(total, part * rowsPerFile));
    recordDelivery(request, files, { name, rows, location: put.location, tally });
  }
  return files;
}
