import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { promisify } from "node:util";
import type { DuckDBInstance, DuckDBValue } from "@duckdb/node-api";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { HeraldError } from "../errors/index.ts";
import { charLiteral, duckdbCopyOptions, type ExportFormat, textLiteral } from "./export-format.ts";
import { inlineParameters } from "./inline-parameters.ts";
import { asUnavailable, borrowConnection } from "./unreachable.ts";

const mkfifo = promisify(execFile);

/**
 * Bytes read from the pipe before they are handed on: the parallel gzip's block size, so blocks
 * reach the compression uncopied.
 */
const BLOCK_BYTES = 4 << 20;

/**
 * A pipe's bytes in blocks of BLOCK_BYTES (the last shorter), each filled by as many reads as it
 * takes: a pipe returns at most 64 KiB a read. A read stream's buffers would be the read's size
 * (1 MiB each to hold 64 KiB kept V8 collecting garbage: 10 M profiles, 13 of 41 CPU s in its GC
 * threads), and 64 KiB ones are copied again into compression blocks.
 */
async function* pipeBlocks(fifo: string): AsyncGenerator<Buffer> {
  const handle = await fs.promises.open(fifo, "r");
  try {
    for (let filled = BLOCK_BYTES; filled === BLOCK_BYTES; ) {
      const block = Buffer.allocUnsafeSlow(BLOCK_BYTES);
      filled = 0;
      for (let read = -1; read !== 0 && filled < BLOCK_BYTES; filled += read) {
        ({ bytesRead: read } = await handle.read(block, filled, BLOCK_BYTES - filled, null));
      }
      if (filled > 0) yield block.subarray(0, filled);
    }
  } finally {
    await handle.close();
  }
}

/** A statement of an export with its own parameters, as the engine binds them. */
export interface BoundStatement<V> {
  sql: string;
  params: V[];
}

/**
 * DuckDB writes each query's result as bytes into a named pipe that Node reads: the export never
 * turns rows into JavaScript values and never lands on disk (DESIGN.md, performance facts). The
 * setup statements run first on the same connection (variables the queries read); the queries'
 * rows follow each other, a CSV header before the first only.
 */
export function duckdbExportStream(
  instance: DuckDBInstance,
  plan: { setup: BoundStatement<DuckDBValue>[]; queries: BoundStatement<DuckDBValue>[] },
  format: ExportFormat,
): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  if (format.type === "parquet" && plan.queries.length > 1)
    out.destroy(new Error("a Parquet export is one query: files cannot be concatenated"));
  else void runDuckdbExport(instance, plan, format, out);
  return out;
}

/**
 * The same with each query's bytes as a stream of its own, in order (the files of one export): the
 * setup runs once for all of them, on one connection and one snapshot, where a call per file would
 * run it again for each. A query starts once the previous one's bytes are all in its stream (1 MiB
 * buffered at most). Leaving the loop early stops the export.
 */
export async function* duckdbExportFiles(
  instance: DuckDBInstance,
  plan: { setup: BoundStatement<DuckDBValue>[]; queries: BoundStatement<DuckDBValue>[] },
  format: ExportFormat,
): AsyncGenerator<Readable> {
  const outs = plan.queries.map(() => new PassThrough({ highWaterMark: 1 << 20 }));
  const run = runDuckdbExport(instance, plan, format, outs);
  try {
    for (const out of outs) yield out;
  } finally {
    // Streams never handed out, or not read to their end, stop the export (see runDuckdbExport).
    for (const out of outs) if (!out.writableFinished) out.destroy();
    await run;
  }
}

/**
 * Runs a plan on one connection, each query's `COPY` into a named pipe whose bytes go to `output`:
 * one stream for all the queries, or an array of one per query (each ended after its query).
 * A stream closed before its end (a failed or aborted upload) interrupts the query and releases the
 * pipe; an error destroys every stream not yet ended. Settles once the connection is closed.
 */
async function runDuckdbExport(
  instance: DuckDBInstance,
  plan: { setup: BoundStatement<DuckDBValue>[]; queries: BoundStatement<DuckDBValue>[] },
  format: ExportFormat,
  output: PassThrough | readonly PassThrough[],
): Promise<void> {
  const endEach = Array.isArray(output);
  const outputs: readonly PassThrough[] = Array.isArray(output) ? output : [output];
  const outputOf = (index: number) => outputs[endEach ? index : 0] as PassThrough;
  let dir: string | undefined;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-export-"));
    const connection = await instance.connect();
    // A reader that stops early closes its stream: stop the query, and open the current pipe's
    // read end once so a writer still blocked opening it gets released (EPIPE).
    let current: { fifo: string; reader: Readable } | undefined;
    const stop = () => {
      connection.interrupt();
      if (!current) return;
      current.reader.destroy();
      fs.open(
        current.fifo,
        fs.constants.O_RDONLY | fs.constants.O_NONBLOCK,
        (_e, fd) => fd && fs.close(fd, () => {}),
      );
    };
    for (const out of outputs) out.once("close", () => out.writableFinished || stop());
    try {
      // Rows leave in the order each query defines: a single-table SELECT keeps the table's order.
      // SESSION: the default scope is the whole instance.
      await connection.run("SET SESSION preserve_insertion_order = true");
      // One snapshot for every statement: what the setup computed still describes the rows read.
      await connection.run("BEGIN TRANSACTION");
      for (const statement of plan.setup) await connection.run(statement.sql, statement.params);
      for (const [index, query] of plan.queries.entries()) {
        const out = outputOf(index);
        if (out.destroyed) return;
        const fifo = path.join(dir, `rows-${index}`);
        await mkfifo("mkfifo", ["-m", "600", fifo]);
        const options = duckdbCopyOptions(
          format.type === "csv" && index > 0 && !endEach ? { ...format, header: false } : format,
        );
        const copy = connection.run(`COPY (${query.sql}) TO '${fifo}' (${options})`, query.params);
        const reader = Readable.from(pipeBlocks(fifo), { objectMode: false });
        current = { fifo, reader };
        reader.pipe(out, { end: false });
        const readDone = new Promise<void>((resolve, reject) =>
          reader.on("end", resolve).on("error", reject),
        );
        // If the query fails before opening the pipe, open it ourselves so the reader is released
        // (O_WRONLY without O_CREAT: once the cleanup removed the pipe, this must not create a file).
        await copy.catch(async (error: unknown) => {
          fs.open(fifo, fs.constants.O_WRONLY, (_e, fd) => fd && fs.close(fd, () => {}));
          throw error;
        });
        await readDone;
        if (endEach) out.end();
      }
      await connection.run("COMMIT");
      for (const out of outputs) if (!out.writableEnded) out.end();
    } finally {
      connection.closeSync();
    }
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    for (const out of outputs) if (!out.writableFinished) out.destroy(failure);
  } finally {
    // Retried: a pipe's release above may still be opening as the export ends. A directory left in
    // the temporary folder must not fail an export that has already settled.
    try {
      if (dir) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {}
  }
}

/**
 * PostgreSQL streams `COPY (query) TO STDOUT`, rows straight from the query to the wire: nothing is
 * staged. COPY takes no bind parameters, so the query's are written in as escaped literals
 * (inline-parameters.ts). The setup statements run first on the same connection.
 */
export function postgresExportStream(
  pool: pg.Pool,
  plan: { setup: BoundStatement<unknown>[]; queries: BoundStatement<unknown>[] },
  format: ExportFormat,
): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  (async () => {
    if (format.type === "parquet") {
      throw new HeraldError(
        "validation",
        "format_unsupported",
        "Parquet export needs the embedded DuckDB store; use CSV or JSON Lines on PostgreSQL",
      );
    }
    const borrowed = await borrowConnection(pool);
    const { client } = borrowed;
    // A reader that stops early (an upload failed or was aborted) closes `out`: the connection is then
    // mid-COPY and cannot be reused, so it is discarded instead of released to the pool.
    let copying = false;
    let cancelled = false;
    out.once("close", () => {
      cancelled = copying && !out.writableFinished;
    });
    try {
      for (const statement of plan.setup) await client.query(statement.sql, statement.params);
      for (const [index, query] of plan.queries.entries()) {
        const rows = inlineParameters(query.sql, query.params);
        const header = format.type === "csv" && format.header && index === 0;
        const copySql =
          format.type === "csv"
            ? `COPY (${rows}) TO STDOUT WITH (FORMAT csv, DELIMITER ${charLiteral(format.delimiter, "postgres")}, HEADER ${header}, ${format.quote ? `QUOTE ${charLiteral(format.quote, "postgres")}, ESCAPE ${charLiteral(format.escape || format.quote, "postgres")}, ` : "QUOTE E'\\x01', "}NULL ${textLiteral(format.nullText)})`
            : // One JSON document per line; CSV mode with quote and delimiter bytes that JSON never contains keeps it verbatim.
              `COPY (SELECT row_to_json(t) FROM (${rows}) t) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
        if (out.destroyed) return; // nobody reads any more: skip the COPY, the connection stays clean
        copying = true;
        const stream = client.query(copyTo(copySql));
        stream.pipe(out, { end: false });
        await new Promise<void>((resolve, reject) => {
          stream.on("finish", resolve).on("end", resolve).on("error", reject);
          out.once("close", () => {
            if (cancelled) resolve();
          });
        });
        copying = false;
        if (cancelled) return;
      }
      out.end();
    } catch (error) {
      borrowed.failed(error);
      throw asUnavailable(error);
    } finally {
      // Cancelled mid-COPY, the connection cannot be reused either.
      borrowed.release(cancelled);
    }
  })().catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
  return out;
}
