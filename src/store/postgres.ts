import pg from "pg";
import { createDialect } from "./dialect.ts";
import type { ExportFormat } from "./export-format.ts";
import { postgresExportStream } from "./export-stream.ts";
import { scopePlan, scopeToSandbox } from "./scoping.ts";
import type { Executor, ExportPlan, HeldLock, QueryOptions, Row, Statement, Store } from "./types.ts";
import { asUnavailable, borrowConnection } from "./unreachable.ts";

// The same plain values as the DuckDB engine: safe integers as numbers, dates as `YYYY-MM-DD`.
const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;
const types = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8 || oid === NUMERIC)
      return (text: string) => {
        const n = Number(text);
        return Number.isSafeInteger(n) || oid === NUMERIC ? n : BigInt(text);
      };
    if (oid === DATE) return (text: string) => text;
    return pg.types.getTypeParser(oid, format as "text");
  }) as typeof pg.types.getTypeParser,
};

/**
 * A flat array of strings, finite numbers and nulls as PostgreSQL's array literal, through
 * JSON.stringify: its quoting of strings ("…" with \" and \\) is the literal's own, and null is
 * NULL. Three times faster than pg's element-by-element escaping (bulk writes pass every column as
 * an array); anything else, or any other escape in the JSON (control characters, lone surrogates),
 * is left to pg.
 */
function arrayLiteral(values: readonly unknown[]): string | undefined {
  for (const v of values) {
    if (v != null && typeof v !== "string" && !(typeof v === "number" && Number.isFinite(v)))
      return undefined;
  }
  const json = JSON.stringify(values);
  if (/\\[^"\\]/.test(json)) return undefined;
  return `{${json.slice(1, -1)}}`;
}

function toPgValue(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return arrayLiteral(value) ?? value;
  return value;
}

/**
 * Several writes as one statement: all but the last become data-modifying CTEs of the last, their
 * parameters renumbered after the ones before. PostgreSQL runs every CTE to completion whether or
 * not it is referenced, in one snapshot, atomically: one round trip instead of one per write.
 */
export function combineWrites(
  dialect: ReturnType<typeof createDialect>,
  sandbox: string,
  statements: readonly Statement[],
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const parts = statements.map((statement) => {
    if (/^\s*WITH\b/i.test(statement.sql)) throw new Error("writeAll takes no statement starting with WITH");
    const scoped = scopeToSandbox(dialect, sandbox, statement.sql, statement.params);
    const offset = params.length;
    params.push(...scoped.params);
    // Our statements carry user values only as parameters, so every `$n` in the text is one.
    return scoped.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  });
  const last = parts.pop() as string;
  const ctes = parts.map((sql, i) => `w${i} AS (${sql})`);
  return { sql: ctes.length ? `WITH ${ctes.join(",\n")}\n${last}` : last, params };
}

/** Names for prepared statements, one per text, shared by a store's connections (pg prepares each on first use). */
function preparedNames(limit = 1_000) {
  const names = new Map<string, string>();
  return (sql: string): string | undefined => {
    const known = names.get(sql);
    if (known || names.size >= limit) return known;
    const name = `herald_${names.size}`;
    names.set(sql, name);
    return name;
  };
}

function executorOn(
  client: pg.Pool | pg.PoolClient,
  dialect = createDialect("postgres"),
  nameOf = preparedNames(),
): Executor {
  const run = async (sql: string, params: readonly unknown[], prepared = false) => {
    const name = prepared ? nameOf(sql) : undefined;
    const config = { text: sql, values: params.map(toPgValue), types, ...(name ? { name } : {}) };
    try {
      return (await client.query(config)).rows as Row[];
    } catch (error) {
      throw asUnavailable(error);
    }
  };
  return {
    query: async <T>(
      sandbox: string,
      sql: string,
      params: readonly unknown[] = [],
      options?: QueryOptions,
    ) => {
      const scoped = scopeToSandbox(dialect, sandbox, sql, params);
      return (await run(scoped.sql, scoped.params, options?.prepared)) as T[];
    },
    queryGlobal: async <T>(sql: string, params: readonly unknown[] = []) => (await run(sql, params)) as T[],
    writeAll: async <T>(sandbox: string, statements: readonly Statement[]) => {
      if (!statements.length) return [];
      const combined = combineWrites(dialect, sandbox, statements);
      return (await run(combined.sql, combined.params, true)) as T[];
    },
  };
}

/**
 * A session-level advisory lock on a connection taken from the pool for as long as it is held:
 * PostgreSQL drops it with the session, so a process that dies (or whose connection breaks) lets
 * another take it within its next try.
 */
async function tryAdvisoryLock(pool: pg.Pool, name: string): Promise<HeldLock | undefined> {
  const client = await pool.connect();
  let broken: unknown;
  let markLost = () => {};
  const lost = new Promise<void>((resolve) => {
    markLost = resolve;
  });
  const onBreak = (error?: unknown) => {
    broken ??= error ?? new Error("the lock's connection ended");
    markLost();
  };
  client.on("error", onBreak);
  client.on("end", onBreak);
  // A connection that failed is discarded rather than returned to the pool.
  const forget = (failed = false) => {
    client.off("error", onBreak);
    client.off("end", onBreak);
    // A discarded connection may still report its end: unheard, an 'error' event ends the process.
    if (failed) client.on("error", () => {});
    client.release(failed);
  };
  try {
    const [row] = (
      await client.query<{ held: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS held", [
        name,
      ])
    ).rows;
    if (!row?.held) {
      forget();
      return undefined;
    }
  } catch (error) {
    forget(true);
    throw error;
  }
  let released = false;
  return {
    lost,
    async check() {
      if (broken) throw broken;
      await client.query("SELECT 1");
    },
    async release() {
      if (released) return;
      released = true;
      if (broken) return forget(true);
      try {
        await client.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [name]);
        forget();
      } catch {
        // Discarded: closing the session drops the lock anyway.
        forget(true);
      }
    },
  };
}

export async function openPostgresStore(url: string): Promise<Store & { pool: pg.Pool }> {
  // Connections stay open through pauses of minutes (pg's default closes them after 10 s idle): a
  // new backend prepares every statement again and warms its caches, and under streaming load the
  // pool kept closing and reopening connections, each reopening a latency spike.
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    idleTimeoutMillis: 300_000,
    options: "-c TimeZone=UTC",
  });
  // An idle connection that breaks (the server restarted, a session terminated) is dropped by the
  // pool, which then emits 'error': unheard, that event would end the process. The next query opens
  // a new connection, or fails as `unavailable` while the server is away.
  pool.on("error", () => {});
  // Fail at start with a clear cause rather than on the first request.
  const probe = await pool.connect();
  probe.release();
  const dialect = createDialect("postgres");
  const nameOf = preparedNames();
  const root = executorOn(pool, dialect, nameOf);
  const exportPlan = (sandbox: string, plan: ExportPlan, format: ExportFormat) =>
    postgresExportStream(pool, scopePlan(dialect, sandbox, plan, toPgValue), format);

  return {
    engine: "postgres",
    dialect,
    pool,
    query: root.query,
    queryGlobal: root.queryGlobal,
    writeAll: root.writeAll,
    exportQuery: (sandbox, sql, params, format) =>
      exportPlan(sandbox, { setup: [], queries: [{ sql, params }] }, format),
    exportPlan,
    // One session per file, each running the setup (PostgreSQL writes CSV and JSON Lines, which
    // exports split in Node; only Parquet, which it refuses, asks for files).
    exportPlanFiles: async function* (sandbox, plan, format) {
      for (const query of plan.queries) {
        const file = exportPlan(sandbox, { setup: plan.setup, queries: [query] }, format);
        try {
          yield file;
        } finally {
          // A file left unread (the loop left early) would hold its connection mid-COPY.
          if (!file.readableEnded) file.destroy();
        }
      }
    },
    transaction: async (work) => {
      const borrowed = await borrowConnection(pool);
      const { client } = borrowed;
      try {
        await client.query("BEGIN");
        const result = await work(executorOn(client, dialect, nameOf));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        borrowed.failed(error);
        if (!borrowed.broken) await client.query("ROLLBACK").catch(() => {});
        throw asUnavailable(error);
      } finally {
        borrowed.release();
      }
    },
    tryLock: (name) => tryAdvisoryLock(pool, name),
    close: () => pool.end(),
  };
}
