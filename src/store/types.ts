import type { Readable } from "node:stream";
import type { ExportFormat } from "./export-format.ts";
export type Engine = "duckdb" | "postgres";
export type Row = Record<string, unknown>;

/**
 * Runs SQL. Every statement over sandboxed data names its sandbox explicitly:
 * - `{profiles}`, `{events}` (any `{name}`) stand for that table inside the sandbox's own schema;
 * - `$sandbox` is bound, as a parameter, to the sandbox's name (for shared tables with a `sandbox` column).
 * A statement passed to `query` that uses neither is refused, so no query can cross sandboxes by accident.
 * User values always go through `$1, $2, ...` parameters, never into the text.
 */
export interface Executor {
  query<T = Row>(
    sandbox: string,
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<T[]>;
  /** For what belongs to no sandbox: the sandbox list, migrations, engine settings. */
  queryGlobal<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * Runs sandbox-scoped writes (plain INSERT / UPDATE / DELETE, none starting with WITH) as one
   * atomic unit and returns the last one's rows (its RETURNING). They must not depend on each
   * other's effects: on PostgreSQL they are one statement (the others as data-modifying CTEs of the
   * last), so one round trip, all seeing the same snapshot; on DuckDB they run one after the other
   * in a transaction (the caller's, or their own). Prepared on PostgreSQL (see QueryOptions).
   */
  writeAll<T = Row>(sandbox: string, statements: readonly Statement[]): Promise<T[]>;
}

export interface QueryOptions {
  /**
   * Keep the statement prepared on each connection (PostgreSQL), so that a statement run many
   * times a second is not planned every time. Only for statements whose result columns are named,
   * never `*`: a prepared statement fails once a table it returns all columns of gains one.
   */
  prepared?: boolean;
}

/** A sandbox-scoped statement (as `query` takes one) with its own parameters. */
export interface Statement {
  sql: string;
  params: readonly unknown[];
}

export type ExportStatement = Statement;

/**
 * An export in several statements on one session: `setup` first (session variables the queries
 * read), then the queries, whose rows follow each other in one stream with a CSV header before the
 * first only. Parquet takes a single query.
 */
export interface ExportPlan {
  setup: readonly ExportStatement[];
  queries: readonly ExportStatement[];
}

export interface Store extends Executor {
  readonly engine: Engine;
  readonly dialect: Dialect;
  /** Bytes of memory the engine's queries may use, when it keeps such a budget itself (DuckDB). */
  readonly memoryBudget?: number;
  /**
   * Streams a sandbox query's result as file bytes written by the engine itself (CSV, JSON Lines,
   * Parquet): the fast path of exports. The stream errors if the query fails.
   */
  exportQuery(sandbox: string, sql: string, params: readonly unknown[], format: ExportFormat): Readable;
  /** The same for an export in several statements on one session (see ExportPlan). */
  exportPlan(sandbox: string, plan: ExportPlan, format: ExportFormat): Readable;
  /**
   * Each query of a plan as a file's bytes of its own, in order (a Parquet export in several files):
   * on DuckDB the setup runs once for all of them. Leaving the loop early stops the export.
   */
  exportPlanFiles(sandbox: string, plan: ExportPlan, format: ExportFormat): AsyncIterable<Readable>;
  /** One transaction on one connection; rolled back if `work` throws. */
  transaction<T>(work: (tx: Executor) => Promise<T>): Promise<T>;
  /**
   * Takes the lock `name`, which one session of the database holds at a time, on a connection of
   * its own kept until `release` (undefined while another session holds it). PostgreSQL only: a
   * DuckDB store is one process by construction and has nothing to share.
   */
  tryLock?(name: string): Promise<HeldLock | undefined>;
  close(): Promise<void>;
}

/** A lock taken with `Store.tryLock`, held as long as its connection lives. */
export interface HeldLock {
  /** Resolves when the connection breaks: the database has dropped the lock. */
  readonly lost: Promise<void>;
  /** Runs a round trip on the connection; rejects if it is broken. */
  check(): Promise<void>;
  /** Lets the lock go and gives the connection back (or discards it, if broken). */
  release(): Promise<void>;
}

/** The small differences between the two engines' SQL, in one place. */
export interface Dialect {
  readonly engine: Engine;
  /** Column type for a schema field type. */
  columnType(type: ColumnKind): string;
  /** Quoted identifier; callers pass only identifiers that come from the schema registry. */
  ident(name: string): string;
  /** The qualified name of a sandbox's table. */
  table(sandbox: string, name: string): string;
  /** Regular-expression match, as `text ~ pattern` semantics (partial match). */
  regexMatch(value: string, pattern: string, caseInsensitive: boolean): string;
  /**
   * SELECT that turns one text-array parameter per column back into typed rows, for bulk inserts:
   * `INSERT INTO t (a, b) ${unnestColumns(...)}` with each column's values passed as text.
   */
  unnestColumns(columns: readonly { name: string; kind: ColumnKind }[], firstParam: number): string;
  /** Hex SHA-256 of the trimmed, lower-cased text (the normalisation ad platforms document). */
  sha256Normalized(expr: string): string;
  /** A timestamp as ISO 8601 text in UTC with milliseconds (`2026-11-02T10:00:00.000Z`), as exports write it. */
  isoTimestamp(expr: string): string;
  /** `expr` is one of the strings in the text-array parameter `$param`. */
  inTextList(expr: string, param: number): string;
  /** Text form of an array value that `unnestColumns` casts back. */
  arrayText(values: readonly string[]): string;
  /**
   * Aggregate of a subquery's rows (`alias` is the subquery's row) into one list of objects keyed by
   * column, NULL when there are none. Values nested in it are JSON on PostgreSQL (timestamps as
   * ISO 8601 text) and plain values on DuckDB (timestamps as Dates).
   */
  aggregateRows(alias: string): string;
}

export type ColumnKind = "string" | "integer" | "number" | "boolean" | "date" | "timestamp" | "string[]";
