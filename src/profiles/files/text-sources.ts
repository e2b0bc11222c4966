import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { DuckDBInstance, type DuckDBType, DuckDBTypeId } from "@duckdb/node-api";
import { validationError } from "../../errors/index.ts";
import { type CsvRow, CsvTokenizer } from "./csv-tokenizer.ts";
import { type FileInput, hasInvalidUtf8, openBytes, openText, openTextNoting } from "./input.ts";

/** Rows of text cells with their numbers, read in batches: what CSV and Parquet files become. */
export interface TextRows {
  header: string[];
  batches: AsyncIterable<CsvRow[]>;
  close(): Promise<void>;
}

const BATCH_ROWS = 10_000;

function checkedTokenizer(delimiter: string, file: string): CsvTokenizer {
  try {
    return new CsvTokenizer(delimiter);
  } catch (error) {
    throw validationError(`${file}: ${(error as Error).message}`, [
      { field: "delimiter", message: "one character" },
    ]);
  }
}

function checkHeader(tokenizer: CsvTokenizer, file: string): string[] {
  const { header } = tokenizer;
  if (!header || (header.length === 1 && header[0] === ""))
    throw validationError(`${file}: the file is empty: the first line must be the header`, [], "empty_file");
  if (header.some(hasInvalidUtf8))
    throw validationError(
      `${file}: the header is not UTF-8`,
      [{ row: 0, message: "not UTF-8" }],
      "malformed_header",
    );
  if (tokenizer.linesBeforeHeader > 0)
    throw validationError(
      `${file}: the first line is empty: it must be the header`,
      [{ row: 0, message: "empty header" }],
      "empty_header",
    );
  return header;
}

/** Reads only as far as the header row (the first row of the file). */
export async function readCsvHeader(input: FileInput, delimiter: string): Promise<string[]> {
  const tokenizer = checkedTokenizer(delimiter, input.path);
  const rows: CsvRow[] = [];
  const text = openText(input);
  try {
    for await (const chunk of text) {
      tokenizer.push(chunk, rows);
      if (tokenizer.header) break;
    }
    if (!tokenizer.header) tokenizer.end(rows);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("The CSV header"))
      throw validationError(
        `${input.path}: ${error.message}`,
        [{ row: 0, message: error.message }],
        "malformed_header",
      );
    throw error;
  } finally {
    await text.return(undefined);
  }
  return checkHeader(tokenizer, input.path);
}

/** Streams a CSV file's rows in batches; memory stays bounded by the batch and the longest row. */
export async function openCsvRows(input: FileInput, delimiter: string): Promise<TextRows> {
  const header = await readCsvHeader(input, delimiter);
  async function* batches(): AsyncGenerator<CsvRow[]> {
    const tokenizer = checkedTokenizer(delimiter, input.path);
    let rows: CsvRow[] = [];
    let lastRow = 0;
    // A row holding bytes that are not UTF-8 is rejected on its own, as DuckDB's reader does.
    const checked = (batch: CsvRow[]) => {
      lastRow = batch.at(-1)?.row ?? lastRow;
      return batch.map(
        (r): CsvRow =>
          "cells" in r && r.cells.some(hasInvalidUtf8) ? { row: r.row, error: "not UTF-8" } : r,
      );
    };
    try {
      const place = () => `row ${rows.at(-1)?.row ?? lastRow}`;
      for await (const chunk of openTextNoting(input, place)) {
        tokenizer.push(chunk, rows);
        if (rows.length >= BATCH_ROWS) {
          yield checked(rows);
          rows = [];
        }
      }
    } catch (error) {
      // The whole rows read before the damage are stored; the loader reports how many.
      if (rows.length) yield checked(rows);
      throw error;
    }
    tokenizer.end(rows);
    if (rows.length) yield checked(rows);
  }
  return { header, batches: batches(), close: async () => {} };
}

/**
 * SQL that reads a Parquet column as text the way a CSV cell would hold it: scalars cast to
 * VARCHAR, lists as JSON arrays; nested structs become one column per leaf, named by dotted path
 * (`person.name.firstName`).
 */
export function parquetTextColumns(
  names: readonly string[],
  types: readonly DuckDBType[],
): { name: string; sql: string }[] {
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  const columns: { name: string; sql: string }[] = [];
  const visit = (name: string, sql: string, type: DuckDBType) => {
    if (type.typeId === DuckDBTypeId.STRUCT && "entryNames" in type) {
      const struct = type as unknown as { entryNames: string[]; entryTypes: DuckDBType[] };
      struct.entryNames.forEach((entry, i) => {
        visit(
          `${name}.${entry}`,
          `struct_extract(${sql}, '${entry.replaceAll("'", "''")}')`,
          struct.entryTypes[i] as DuckDBType,
        );
      });
    } else if (type.typeId === DuckDBTypeId.LIST || type.typeId === DuckDBTypeId.ARRAY) {
      columns.push({ name, sql: `CAST(to_json(${sql}) AS VARCHAR)` });
    } else {
      columns.push({ name, sql: `CAST(${sql} AS VARCHAR)` });
    }
  };
  names.forEach((name, i) => {
    visit(name, quote(name), types[i] as DuckDBType);
  });
  return columns;
}

/** A gzip-compressed Parquet file is decompressed to a temporary file: Parquet needs random access. */
export async function plainParquetPath(input: FileInput): Promise<{ file: string; cleanup: () => void }> {
  if (!input.gzip) return { file: input.path, cleanup: () => {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-parquet-"));
  const file = path.join(dir, "input.parquet");
  await pipeline(openBytes(input), fs.createWriteStream(file));
  return { file, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A Parquet file's column names and types, read by an in-memory DuckDB. */
export async function probeParquet(file: string, name: string): Promise<[string[], DuckDBType[]]> {
  const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
  const connection = await instance.connect();
  try {
    const probe = await connection.runAndReadAll("SELECT * FROM read_parquet($1) LIMIT 0", [file]);
    return [probe.columnNames(), probe.columnTypes()];
  } catch (error) {
    throw validationError(
      `${name}: cannot read as Parquet: ${(error as Error).message.split("\n")[0]}`,
      [],
      "malformed_parquet",
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * Streams a Parquet file's rows through an in-memory DuckDB (embedded, so this works whichever
 * store Herald uses), chunk by chunk, as text cells; NULL is an empty cell (not given).
 */
export async function openParquetRows(input: FileInput): Promise<TextRows> {
  const { file, cleanup } = await plainParquetPath(input);
  let columns: { name: string; sql: string }[];
  try {
    columns = parquetTextColumns(...(await probeParquet(file, input.path)));
  } catch (error) {
    cleanup();
    throw error;
  }
  const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
  const connection = await instance.connect();
  const close = async () => {
    connection.closeSync();
    instance.closeSync();
    cleanup();
  };
  try {
    // Timestamps with a zone print in UTC, as the store reads them.
    await connection.run("LOAD icu");
    await connection.run("SET TimeZone = 'UTC'");
    const result = await connection.stream(
      `SELECT ${columns.map((c) => c.sql).join(", ")} FROM read_parquet($1)`,
      [file],
    );
    async function* batches(): AsyncGenerator<CsvRow[]> {
      let row = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        yield chunk.getRows().map((values) => ({
          row: ++row,
          cells: values.map((v) => (v === null ? "" : String(v))),
        }));
      }
    }
    return { header: columns.map((c) => c.name), batches: batches(), close };
  } catch (error) {
    await close();
    throw error;
  }
}
