import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { promisify } from "node:util";
import type { DuckDBInstance, DuckDBValue } from "@duckdb/node-api";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { HeraldError } from "../errors/index.ts";
import { charLiteral, duckdbCopyOptions, type ExportFormat, textLiteral } from "./export-format.ts";

const mkfifo = promisify(execFile);

/** What a Linux pipe buffers by default, so what one read of it returns at most. */
const PIPE_BYTES = 64 * 1024;

/**
 * DuckDB writes the query's result as bytes into a named pipe that Node reads: the export never
 * turns rows into JavaScript values and never lands on disk (DESIGN.md, performance facts).
 */
export function duckdbExportStream(
  instance: DuckDBInstance,
  sql: string,
  params: DuckDBValue[],
  format: ExportFormat,
): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-export-"));
  const fifo = path.join(dir, "rows");
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  (async () => {
    await mkfifo("mkfifo", ["-m", "600", fifo]);
    const connection = await instance.connect();
    try {
      // SESSION: the default scope is the whole instance, and other work relies on insertion order.
      await connection.run("SET SESSION preserve_insertion_order = false");
      const copy = connection.run(`COPY (${sql}) TO '${fifo}' (${duckdbCopyOptions(format)})`, params);
      // A pipe holds 64 KiB: a larger read buffer is allocated whole for each read and mostly
      // wasted, and at 1 MiB those allocations (16x the bytes moved) kept V8 collecting garbage:
      // 10 M profiles, 13 of 41 CPU s in V8's GC threads; 4.7 of 28 with 64 KiB.
      const reader = fs.createReadStream(fifo, { highWaterMark: PIPE_BYTES });
      reader.pipe(out, { end: false });
      const readDone = new Promise<void>((resolve, reject) => reader.on("end", resolve).on("error", reject));
      // A reader that stops early (failed or aborted upload) closes `out`: stop the query, and open
      // the pipe's read end once so a writer still blocked opening it gets released (then EPIPE).
      out.once("close", () => {
        if (out.writableFinished) return;
        connection.interrupt();
        reader.destroy();
        fs.open(
          fifo,
          fs.constants.O_RDONLY | fs.constants.O_NONBLOCK,
          (_e, fd) => fd && fs.close(fd, () => {}),
        );
      });
      // If the query fails before opening the pipe, open it ourselves so the reader is released.
      await copy.catch(async (error: unknown) => {
        fs.open(fifo, "w", (_e, fd) => fd && fs.close(fd, () => {}));
        throw error;
      });
      await readDone;
      out.end();
    } finally {
      connection.closeSync();
    }
  })()
    .catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))))
    .finally(cleanup);
  return out;
}

/**
 * PostgreSQL streams `COPY ... TO STDOUT`. COPY takes no bind parameters, so the rows are first
 * selected, with parameters, into a temporary table of this session, then copied out.
 */
export function postgresExportStream(
  pool: pg.Pool,
  sql: string,
  params: unknown[],
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
    const client = await pool.connect();
    // A reader that stops early (an upload failed or was aborted) closes `out`: the connection is then
    // mid-COPY and cannot be reused, so it is discarded instead of released to the pool.
    let cancelled = false;
    try {
      await client.query(`CREATE TEMP TABLE herald_export ON COMMIT PRESERVE ROWS AS ${sql}`, params);
      const copySql =
        format.type === "csv"
          ? `COPY herald_export TO STDOUT WITH (FORMAT csv, DELIMITER ${charLiteral(format.delimiter, "postgres")}, HEADER ${format.header}, ${format.quote ? `QUOTE ${charLiteral(format.quote, "postgres")}, ESCAPE ${charLiteral(format.escape || format.quote, "postgres")}, ` : "QUOTE E'\\x01', "}NULL ${textLiteral(format.nullText)})`
          : // One JSON document per line; CSV mode with quote and delimiter bytes that JSON never contains keeps it verbatim.
            `COPY (SELECT row_to_json(t) FROM herald_export t) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
      if (out.destroyed) return; // nobody reads any more: skip the COPY, the connection stays clean
      const stream = client.query(copyTo(copySql));
      stream.pipe(out, { end: false });
      await new Promise<void>((resolve, reject) => {
        stream.on("finish", resolve).on("end", resolve).on("error", reject);
        out.once("close", () => {
          cancelled = !out.writableFinished;
          if (cancelled) resolve();
        });
      });
      out.end();
    } finally {
      if (cancelled) client.release(true);
      else {
        await client.query("DROP TABLE IF EXISTS herald_export").catch(() => {});
        client.release();
      }
    }
  })().catch((error: unknown) => out.destroy(error instanceof Error ? error : new Error(String(error))));
  return out;
}
