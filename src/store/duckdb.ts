import fs from "node:fs";
import path from "node:path";
import {
  DOUBLE,
  type DuckDBConnection,
  DuckDBInstance,
  type DuckDBResultReader,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  LIST,
  listValue,
  VARCHAR,
} from "@duckdb/node-api";
import { createDialect } from "./dialect.ts";
import type { ExportFormat } from "./export-format.ts";
import { duckdbExportFiles, duckdbExportStream } from "./export-stream.ts";
import { scopePlan, scopeToSandbox } from "./scoping.ts";
import type { Executor, ExportPlan, Row, Statement, Store } from "./types.ts";

export interface DuckDBStoreOptions {
  /** Database file, or ":memory:". */
  file: string;
  memoryLimit?: string;
  threads?: number;
}

/** A one-at-a-time lock: DuckDB allows one writer; transactions queue here instead of conflicting. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release = () => {};
    this.tail = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }
}

function toDuckValue(value: unknown): DuckDBValue {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return listValue(value.map(toDuckValue));
  if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value))
    return BigInt(value);
  return value as DuckDBValue;
}

/** Plain JavaScript values, the same from both engines: numbers, strings, Dates, dates as `YYYY-MM-DD`. */
export function readRows(result: DuckDBResultReader): Row[] {
  const names = result.columnNames();
  const dateColumns = new Set(
    result
      .columnTypes()
      .map((type, i) => (type.typeId === DuckDBTypeId.DATE ? names[i] : undefined))
      .filter((n): n is string => n !== undefined),
  );
  return result.getRowObjectsJS().map((row) => {
    const out: Row = {};
    for (const [key, value] of Object.entries(row)) {
      if (typeof value === "bigint") out[key] = Number.isSafeInteger(Number(value)) ? Number(value) : value;
      else if (dateColumns.has(key) && value instanceof Date) out[key] = value.toISOString().slice(0, 10);
      else out[key] = value;
    }
    return out;
  });
}

/**
 * A list parameter's element type cannot be inferred from a list that starts with nulls: name it,
 * so `[null, "12.5"]` stays a VARCHAR list instead of a list of NULLs.
 */
function typeOf(value: unknown): DuckDBType | undefined {
  if (!Array.isArray(value)) return undefined;
  const first = value.find((v) => v !== null && v !== undefined);
  if (typeof first === "number") return LIST(DOUBLE);
  if (first === undefined || typeof first === "string") return LIST(VARCHAR);
  return undefined;
}

async function run(connection: DuckDBConnection, sql: string, params: readonly unknown[]): Promise<Row[]> {
  const result = params.length
    ? await connection.runAndReadAll(sql, params.map(toDuckValue), params.map(typeOf) as DuckDBType[])
    : await connection.runAndReadAll(sql);
  return readRows(result);
}

function executorOn(connection: DuckDBConnection, dialect = createDialect("duckdb")): Executor {
  return {
    query: async <T>(sandbox: string, sql: string, params: readonly unknown[] = []) => {
      const scoped = scopeToSandbox(dialect, sandbox, sql, params);
      return (await run(connection, scoped.sql, scoped.params)) as T[];
    },
    queryGlobal: async <T>(sql: string, params: readonly unknown[] = []) =>
      (await run(connection, sql, params)) as T[],
    // Inside the caller's transaction (the store's own writeAll opens one).
    writeAll: async <T>(sandbox: string, statements: readonly Statement[]) => {
      let rows: Row[] = [];
      for (const { sql, params } of statements) {
        const scoped = scopeToSandbox(dialect, sandbox, sql, params);
        rows = await run(connection, scoped.sql, scoped.params);
      }
      return rows as T[];
    },
  };
}

const UNITS: Record<string, number> = { bytes: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

/** A size as DuckDB prints its settings ("427.2 MiB"), in bytes; undefined if it reads otherwise. */
function parseSize(text: string): number | undefined {
  const match = /^([\d.]+)\s*(bytes|KiB|MiB|GiB|TiB)$/.exec(text.trim());
  return match ? Math.round(Number(match[1]) * (UNITS[match[2] as string] as number)) : undefined;
}

export async function openDuckDBStore(
  options: DuckDBStoreOptions,
): Promise<Store & { instance: DuckDBInstance }> {
  if (options.file !== ":memory:") fs.mkdirSync(path.dirname(options.file), { recursive: true });
  // Memory the engine has freed goes back to the system soon, not kept by its allocator (jemalloc)
  // for reuse: a deduplicated export's passes left 560-725 MiB resident with nothing in use, and
  // 474-586 MiB with these (100 M profiles, 448MB budget; docs/benchmarks.md).
  const settings: Record<string, string> = {
    allocator_background_threads: "true",
    allocator_flush_threshold: "16MB",
  };
  if (options.memoryLimit) settings.memory_limit = options.memoryLimit;
  if (options.threads) settings.threads = String(options.threads);
  const instance = await DuckDBInstance.create(options.file, settings);
  // Timestamps read and written in UTC, whatever the machine's zone (ICU is built in, not autoloaded).
  const setup = await instance.connect();
  await setup.run("LOAD icu");
  await setup.run("SET GLOBAL TimeZone = 'UTC'");
  const memoryBudget = parseSize(
    String((await setup.runAndReadAll("SELECT current_setting('memory_limit') AS v")).getRows()[0]?.[0]),
  );
  setup.closeSync();
  const dialect = createDialect("duckdb");
  // One connection per concurrent reader; DuckDB runs them in parallel.
  const idle: DuckDBConnection[] = [];
  const writes = new Mutex();
  const acquire = async () => idle.pop() ?? (await instance.connect());
  const release = (connection: DuckDBConnection) => {
    if (idle.length < 8) idle.push(connection);
    else connection.closeSync();
  };
  const withConnection = async <T>(work: (c: DuckDBConnection) => Promise<T>): Promise<T> => {
    const connection = await acquire();
    try {
      return await work(connection);
    } finally {
      release(connection);
    }
  };

  const transaction: Store["transaction"] = (work) =>
    writes.run(() =>
      withConnection(async (connection) => {
        await connection.run("BEGIN TRANSACTION");
        try {
          const result = await work(executorOn(connection, dialect));
          await connection.run("COMMIT");
          return result;
        } catch (error) {
          await connection.run("ROLLBACK");
          throw error;
        }
      }),
    );
  const exportPlan = (sandbox: string, plan: ExportPlan, format: ExportFormat) =>
    duckdbExportStream(instance, scopePlan(dialect, sandbox, plan, toDuckValue), format);

  return {
    engine: "duckdb",
    dialect,
    ...(memoryBudget ? { memoryBudget } : {}),
    instance,
    query: (sandbox, sql, params) =>
      withConnection((c) => executorOn(c, dialect).query(sandbox, sql, params)),
    queryGlobal: (sql, params) => withConnection((c) => executorOn(c, dialect).queryGlobal(sql, params)),
    exportQuery: (sandbox, sql, params, format) =>
      exportPlan(sandbox, { setup: [], queries: [{ sql, params }] }, format),
    exportPlan,
    exportPlanFiles: (sandbox, plan, format) =>
      duckdbExportFiles(instance, scopePlan(dialect, sandbox, plan, toDuckValue), format),
    transaction,
    writeAll: (sandbox, statements) =>
      statements.length ? transaction((tx) => tx.writeAll(sandbox, statements)) : Promise.resolve([]),
    close: async () => {
      for (const connection of idle.splice(0)) connection.closeSync();
      instance.closeSync();
    },
  };
}
