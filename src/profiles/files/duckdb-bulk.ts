import { randomUUID } from "node:crypto";
import { HeraldError, type Issue, isHeraldError } from "../../errors/index.ts";
import type { Executor } from "../../store/index.ts";
import { recordLoadedTypesSql } from "../event-types.ts";
import { validateEvent } from "../events.ts";
import { blankSql, cellSql } from "./cells.ts";
import { eventColumns, profileColumns } from "./columns.ts";
import { MAX_ROW_CHARS } from "./csv-tokenizer.ts";
import { emptyRowNumbers } from "./empty-lines.ts";
import { type FileInput, gzipDamage } from "./input.ts";
import { MAX_REPORTED_ISSUES } from "./issues.ts";
import { eventRowToRecord, type LoadContext, type LoadCounts, profileRowToWrite } from "./load-rows.ts";

/** Where the bulk path reads text cells from: DuckDB's CSV reader, or a Parquet file as text. */
export type BulkSource =
  | { kind: "csv"; input: FileInput; delimiter: string; header: string[] }
  | { kind: "parquet"; file: string; header: string[]; textColumns: string[] };

/** DuckDB's CSV reader errors, worded as the row-by-row reader words them. */
export function csvErrorMessage(type: string, message: string, expectedColumns: number): string {
  switch (type) {
    case "MISSING COLUMNS": {
      const found = /Found: (\d+)/.exec(message)?.[1];
      return `malformed CSV: expected ${expectedColumns} columns, found ${found ?? "fewer"}`;
    }
    case "TOO MANY COLUMNS":
      return `malformed CSV: more than ${expectedColumns} columns`;
    case "UNQUOTED VALUE":
      return "malformed CSV: a quoted value is not closed, or text follows its closing quote";
    case "LINE SIZE OVER MAXIMUM":
      return `malformed CSV: the row is longer than ${MAX_ROW_CHARS} characters`;
    case "INVALID UNICODE":
    case "INVALID ENCODING":
      return "not UTF-8";
    default:
      return `malformed CSV: ${message.split("\n")[0]}`;
  }
}

/**
 * A file read by DuckDB into a temporary table of the connection, in file order (`rowid`): the
 * typed values, an issue count per row, and the raw cells of rejected rows (`r0`, `r1`, ...), so
 * that JavaScript can word their issues with the row-by-row path's own code.
 */
class Stage {
  readonly table: string;
  private readonly rejects: string;
  private readonly scans: string;
  readonly cells: string[];
  /** Rows DuckDB's CSV reader rejected, as file row numbers (the header is row 0). */
  readonly malformedRows: string;

  readonly tx: Executor;
  private readonly source: BulkSource;
  private emptyRows: Promise<number[]> | undefined;

  constructor(tx: Executor, source: BulkSource) {
    this.tx = tx;
    this.source = source;
    const suffix = randomUUID().replaceAll("-", "").slice(0, 16);
    this.table = `herald_stage_${suffix}`;
    this.rejects = `herald_rejects_${suffix}`;
    this.scans = `herald_scans_${suffix}`;
    this.cells = source.header.map((_, i) => `c${i}`);
    this.malformedRows =
      source.kind === "csv"
        ? `(SELECT DISTINCT line - 1 AS row FROM ${this.rejects})`
        : "(SELECT 0 AS row WHERE false)";
  }

  /**
   * The file's rows as a FROM item: typed `columns` (expressions over the cells `c0, c1, ...`) and
   * `_issues`, a row's issue count (0 for a good row). Its parameters start at `$first`; `read`
   * numbers the reads after the first (0), which keep their rejects apart.
   */
  rows(columns: string[], issues: string, first: number, read = 0): { sql: string; params: unknown[] } {
    const { source } = this;
    const p = (i: number) => `$${first + i}`;
    let from: string;
    let params: unknown[];
    if (source.kind === "csv") {
      const names = this.cells.map((c) => `'${c}': 'VARCHAR'`).join(", ");
      // Every read records its rejects (DuckDB skips malformed rows alike only then); the first
      // read's are the ones reported.
      const suffix = read ? `_${read}` : "";
      if (read) this.dropLater(`${this.rejects}${suffix}`, `${this.scans}${suffix}`);
      const rejects = `store_rejects = true, rejects_table = '${this.rejects}${suffix}', rejects_scan = '${this.scans}${suffix}'`;
      from = `read_csv(${p(0)}, header = true, delim = ${p(1)}, quote = '"', escape = '"', columns = {${names}},
        auto_detect = false, compression = ${p(2)}, max_line_size = ${p(3)}, ${rejects})`;
      params = [source.input.path, source.delimiter, source.input.gzip ? "gzip" : "none", MAX_ROW_CHARS];
    } else {
      from = `(SELECT ${source.textColumns.map((sql, i) => `${sql} AS c${i}`).join(", ")} FROM read_parquet(${p(0)}))`;
      params = [source.file];
    }
    return {
      sql: `(SELECT *, ${issues} AS _issues FROM (SELECT ${[...this.cells, ...columns].join(", ")} FROM ${from}))`,
      params,
    };
  }

  /**
   * Reads the file into the stage table, in file order, keeping `keep` (expressions over the typed
   * columns and `_issues`), `_issues`, `_bad` and the raw cells of rejected rows.
   */
  async create(
    columns: string[],
    issues: string,
    keep: string[],
    rawCells: readonly number[] = this.cells.map((_, i) => i),
    read = 0,
  ): Promise<void> {
    this.rawCells = rawCells;
    const rows = this.rows(columns, issues, 1, read);
    await this.tx.queryGlobal(
      `CREATE TEMP TABLE ${this.table} AS
       SELECT ${[...keep, "_issues", "_issues > 0 AS _bad"].join(", ")},
         ${rawCells.map((i) => `CASE WHEN _issues > 0 THEN c${i} END AS r${i}`).join(", ")}
       FROM ${rows.sql}`,
      rows.params,
    );
  }

  /** How many rows DuckDB's reader rejected, and the first of them as issues. */
  async malformed(): Promise<{ count: number; issues: Issue[] }> {
    if (this.source.kind !== "csv") return { count: 0, issues: [] };
    const [counted] = await this.tx.queryGlobal<{ n: number }>(
      `SELECT count(*) AS n FROM ${this.malformedRows}`,
    );
    const count = Number(counted?.n ?? 0);
    if (!count) return { count, issues: [] };
    const rows = await this.tx.queryGlobal<{ row: number; type: string; message: string }>(
      `SELECT line - 1 AS row, min(error_type) AS type, min(error_message) AS message
       FROM ${this.rejects} GROUP BY line ORDER BY row LIMIT ${MAX_REPORTED_ISSUES}`,
    );
    const width = this.source.header.length;
    return {
      count,
      issues: rows.map((m) => ({ row: Number(m.row), message: csvErrorMessage(m.type, m.message, width) })),
    };
  }

  /**
   * Rows the first read rejected that read `read` did not: a read that leaves a column out does not
   * decode it, so only a read of every column rejects a row whose cell there is not UTF-8.
   */
  async rejectedOnlyByFirstRead(read: number): Promise<number> {
    if (this.source.kind !== "csv") return 0;
    const [counted] = await this.tx.queryGlobal<{ n: number }>(
      `SELECT count(DISTINCT line) AS n FROM ${this.rejects} WHERE line NOT IN (SELECT line FROM ${this.rejects}_${read})`,
    );
    return Number(counted?.n ?? 0);
  }

  /**
   * The first staged rows matching `where`, with their file row numbers: a staged row's number is
   * its position (`rowid`) plus the rows DuckDB skipped before it (malformed and empty ones).
   */
  async firstRows(
    where: string,
    extra: string[] = [],
  ): Promise<{ row: number; cells: string[]; values: Record<string, unknown> }[]> {
    const kept = new Set(this.rawCells);
    const raw = this.rawCells.map((i) => `r${i}`);
    const rows = await this.tx.queryGlobal<Record<string, unknown>>(
      `WITH skipped AS (SELECT row, row_number() OVER (ORDER BY row) AS k
                        FROM (SELECT row FROM ${this.malformedRows} UNION ALL SELECT unnest(CAST($1 AS BIGINT[])))),
         steps AS (SELECT row - k AS at, max(k) AS k FROM skipped GROUP BY ALL),
         picked AS (SELECT rowid AS g, ${[...raw, ...extra].join(", ")} FROM ${this.table} s WHERE ${where}
                    ORDER BY rowid LIMIT ${MAX_REPORTED_ISSUES})
       SELECT picked.g + 1 + coalesce(steps.k, 0) AS _row, picked.* FROM picked ASOF LEFT JOIN steps ON picked.g >= steps.at
       ORDER BY _row`,
      [await this.emptyRowNumbers()],
    );
    return rows.map((r) => ({
      row: Number(r._row),
      cells: this.cells.map((_, i) => (kept.has(i) ? ((r[`r${i}`] as string | null) ?? "") : "")),
      values: r,
    }));
  }

  /**
   * The file's empty rows, which DuckDB's reader skips but counts. Only rejected rows need them to
   * be numbered, so the file is scanned for them only then, not while DuckDB reads it.
   */
  private emptyRowNumbers(): Promise<number[]> {
    const { source } = this;
    this.emptyRows ??=
      source.kind === "csv" ? emptyRowNumbers(source.input, source.delimiter) : Promise.resolve([]);
    return this.emptyRows;
  }

  private readonly extraTables: string[] = [];
  /** The cells kept for rejected rows: the ones that can be at fault. */
  private rawCells: readonly number[] = [];

  /** A further temporary table of this load, dropped with the stage. */
  dropLater(...tables: string[]): void {
    this.extraTables.push(...tables);
  }

  async drop(): Promise<void> {
    for (const table of [this.table, this.rejects, this.scans, ...this.extraTables])
      await this.tx.queryGlobal(`DROP TABLE IF EXISTS ${table}`);
  }
}

/** Adds a load's issues to the collector: counted per row, listed in row order up to its limit. */
function report(context: LoadContext, rejectedRows: number, issueCount: number, issues: Issue[]) {
  const { collector } = context;
  collector.rejectedRows += rejectedRows;
  collector.total += issueCount;
  for (const issue of issues.sort((a, b) => (a.row ?? 0) - (b.row ?? 0)))
    if (collector.issues.length < MAX_REPORTED_ISSUES) collector.issues.push(issue);
}

function disagreement(row: number): Error {
  return new Error(`Row ${row}: DuckDB and JavaScript disagree on the file's cell rules (a bug)`);
}

/**
 * Runs a bulk load on one connection of the store: its transaction gives the load its own
 * connection (temporary tables live there) and the store's write lock. The bulk statements run
 * outside an explicit transaction, one atomic statement at a time, since DuckDB appends about twice
 * as fast then; the explicit transaction is reopened before control returns, whatever happens.
 */
async function onOwnConnection<T>(
  context: LoadContext,
  source: BulkSource,
  work: (tx: Executor, stage: Stage) => Promise<T>,
): Promise<T> {
  return context.store.transaction(async (tx) => {
    await tx.queryGlobal("COMMIT");
    const stage = new Stage(tx, source);
    try {
      return await work(tx, stage);
    } finally {
      await stage.drop().catch(() => {});
      await tx.queryGlobal("BEGIN TRANSACTION");
    }
  });
}

/**
 * DuckDB's reader takes a truncated gzip stream for a whole one, so Node reads a gzip file to its
 * end alongside DuckDB's first read (in zlib's own threads); the load awaits it before it writes
 * anything, and a damaged file is refused with nothing stored.
 */
function gzipCheck(source: BulkSource): () => Promise<void> {
  const damage =
    source.kind === "csv" && source.input.gzip ? gzipDamage(source.input) : Promise.resolve(undefined);
  return async () => {
    const error = await damage;
    if (!error) return;
    if (!isHeraldError(error)) throw error;
    throw new HeraldError(error.kind, error.code, `${error.message}: nothing was stored`, error.issues);
  };
}

/** A profiles file's columns as DuckDB SQL: the typed values, and a row's issue count. */
function profileSql(context: LoadContext, source: BulkSource) {
  const { schema } = context;
  const columns = profileColumns(schema, source.header, context.file);
  const primary = columns.find((c) => c.field.path === schema.primaryIdentity.path);
  if (!primary) throw new Error("profileColumns guarantees the primary identity column");
  const issues = [
    ...columns
      .filter((c) => c.field.type !== "string")
      .map((c) => `CAST(c${c.index} IS NOT NULL AND v${c.index} IS NULL AS INTEGER)`),
    `CAST(v${primary.index} IS NULL OR ${blankSql(`v${primary.index}`)} AS INTEGER)`,
  ].join(" + ");
  const id = `v${primary.index}`;
  const v = columns.map((c) => `v${c.index}`);
  return {
    columns,
    primary,
    id,
    v,
    issues,
    typed: columns.map((c) => `${cellSql(c.field.type, `c${c.index}`)} AS v${c.index}`),
    insertColumns: ["_id", "_created_at", "_updated_at", ...columns.map((c) => `"${c.field.path}"`)].join(
      ", ",
    ),
    /** The good rows of a FROM item over the typed columns, as the profiles table's values. */
    good: (from: string) => `SELECT ${id} AS _id, ${v.join(", ")} FROM ${from} WHERE _issues = 0`,
  };
}

type ProfileSql = ReturnType<typeof profileSql>;
const AT = "CAST($1 AS TIMESTAMPTZ)";

/**
 * Loads a profiles file on DuckDB without turning rows into JavaScript values: DuckDB reads the
 * file into typed rows (the cell rules of `cellSql`, which match `parseCell`), and one INSERT (into
 * an empty table) or MERGE upserts the good rows with the semantics of `upsertProfiles`: absent
 * cells keep the stored value, and a profile named twice in the file takes, field by field, the
 * last value given. Only rejected rows come back to JavaScript, which words their issues.
 */
export async function bulkLoadProfiles(context: LoadContext, source: BulkSource): Promise<LoadCounts> {
  const sql = profileSql(context, source);
  const intact = gzipCheck(source);
  const loaded = await onOwnConnection(context, source, (tx, stage) =>
    loadIntoEmpty(context, sql, tx, stage, intact),
  );
  return (
    loaded ??
    onOwnConnection(context, source, (tx, stage) => stageThenUpsert(context, sql, tx, stage, intact))
  );
}

/**
 * The first load into an empty sandbox, in one read of the file when it has no duplicate ids: the
 * good rows go straight into the profiles table, and a count of the file's rows (which parses it
 * but applies no cell rule) shows whether any was rejected; only then is the file read again to
 * report them. A file naming a profile twice is rolled back (undefined): `stageThenUpsert` merges it.
 */
async function loadIntoEmpty(
  context: LoadContext,
  sql: ProfileSql,
  tx: Executor,
  stage: Stage,
  intact: () => Promise<void>,
): Promise<LoadCounts | undefined> {
  const { schema, now } = context;
  const [existing] = await tx.query<{ any: boolean }>(
    schema.sandbox,
    "SELECT EXISTS (SELECT 1 FROM {profiles}) AS any",
  );
  if (existing?.any) return undefined;
  const rows = stage.rows(sql.typed, sql.issues, 2);
  const all = stage.rows([], "0", 1, 1);
  await tx.queryGlobal("BEGIN TRANSACTION");
  let inserted: number;
  let accepted: number;
  try {
    const [result] = await tx.query<{ Count: number }>(
      schema.sandbox,
      `INSERT INTO {profiles} (${sql.insertColumns}) SELECT _id, ${AT}, ${AT}, ${sql.v.join(", ")} FROM (${sql.good(rows.sql)})`,
      [now, ...rows.params],
    );
    inserted = Number(result?.Count ?? 0);
    // Every row the reader accepts, good or bad, and its ids with their distinct hashes: distinct
    // hashes prove distinct ids, and are cheaper to count than the ids themselves.
    const id = `c${sql.primary.index}`;
    const [counted] = await tx.queryGlobal<{ n: number; named: number; ids: number }>(
      `SELECT count(*) AS n, count(${id}) AS named, count(DISTINCT hash(${id})) FILTER (WHERE ${id} IS NOT NULL) AS ids
       FROM ${all.sql}`,
      all.params,
    );
    // The count reads only the id: a row the INSERT's reader rejected for a cell that is not UTF-8
    // was counted there; it is reported with the malformed rows instead.
    accepted = Number(counted?.n ?? 0) - (await stage.rejectedOnlyByFirstRead(1));
    // Fewer hashes than ids: two rows share an id (or a hash), perhaps a rejected one. The stored
    // rows settle whether good ones do; a collision only costs the slower path.
    let distinct = Number(counted?.ids ?? 0) === Number(counted?.named ?? 0);
    if (!distinct) {
      const [ids] = await tx.query<{ n: number }>(
        schema.sandbox,
        "SELECT count(DISTINCT _id) AS n FROM {profiles}",
      );
      distinct = Number(ids?.n ?? 0) === inserted;
    }
    if (!distinct) {
      await tx.queryGlobal("ROLLBACK");
      return undefined;
    }
    await intact();
    await tx.queryGlobal("COMMIT");
  } catch (error) {
    await tx.queryGlobal("ROLLBACK").catch(() => {});
    throw error;
  }
  context.onProgress?.(accepted);
  const malformed = await stage.malformed();
  const listed = [...malformed.issues];
  let issueCount = 0;
  if (accepted > inserted) {
    const rejected = await rejectedRows(context, sql, stage, 2);
    if (rejected.badRows !== accepted - inserted)
      throw new Error(
        `${context.file} changed while it was loaded: ${accepted - inserted} rows rejected, then ${rejected.badRows} (${inserted} rows were stored)`,
      );
    listed.push(...rejected.issues);
    issueCount = rejected.issueCount;
  }
  report(context, malformed.count + accepted - inserted, malformed.count + issueCount, listed);
  context.onProgress?.(accepted + malformed.count);
  return { received: accepted + malformed.count, stored: inserted };
}

/**
 * Stages the file's rows with their issue counts (in file order) and words the first rejected
 * ones' issues with the row-by-row path's code. Every cell is read, string ones too: DuckDB checks
 * that a cell is UTF-8 only when it decodes it, and this read must reject the rows the write will.
 */
async function rejectedRows(context: LoadContext, sql: ProfileSql, stage: Stage, read = 0) {
  const { schema } = context;
  await stage.create(
    sql.typed,
    sql.issues,
    [`CASE WHEN _issues = 0 THEN hash(${sql.id}) END AS _h`],
    undefined,
    read,
  );
  const [totals] = await stage.tx.queryGlobal<{ rows: number; bad: number; issues: number; ids: number }>(
    `SELECT count(*) AS rows, count(*) FILTER (WHERE _bad) AS bad, coalesce(sum(_issues), 0) AS issues,
       count(DISTINCT _h) AS ids
     FROM ${stage.table}`,
  );
  const issues: Issue[] = [];
  const badRows = Number(totals?.bad ?? 0);
  if (badRows) {
    for (const { row, cells } of await stage.firstRows("_bad")) {
      const result = profileRowToWrite(schema, sql.columns, row, cells);
      if (!("issues" in result)) throw disagreement(row);
      issues.push(...result.issues);
    }
  }
  return {
    staged: Number(totals?.rows ?? 0),
    badRows,
    issueCount: Number(totals?.issues ?? 0),
    distinctIds: Number(totals?.ids ?? 0),
    issues,
  };
}

/**
 * Any other load: a first read finds the rejected rows and duplicate ids (a hash per good row, the
 * cells of rejected ones); the good rows are read again, straight into the profiles table (INSERT
 * when it is empty, else MERGE). Reading twice costs less than holding every row in a temporary table.
 */
async function stageThenUpsert(
  context: LoadContext,
  sql: ProfileSql,
  tx: Executor,
  stage: Stage,
  intact: () => Promise<void>,
): Promise<LoadCounts> {
  const { schema, now } = context;
  const { columns, typed, issues, v } = sql;
  const rejected = await rejectedRows(context, sql, stage);
  const { staged, badRows } = rejected;
  const goodRows = staged - badRows;
  context.onProgress?.(staged);
  await intact();
  const malformed = await stage.malformed();
  report(context, malformed.count + badRows, malformed.count + rejected.issueCount, [
    ...malformed.issues,
    ...rejected.issues,
  ]);

  if (goodRows > 0) {
    const targets = columns.map((c) => `"${c.field.path}"`);
    const reread = stage.rows(typed, issues, 2, 1);
    // Distinct hashes prove distinct ids; fewer hashes than rows means duplicates (or, rarely, a
    // collision, which the merge below handles just as well).
    const duplicates = rejected.distinctIds < goodRows;
    let rows = sql.good(reread.sql);
    if (duplicates) {
      // Several rows for one profile: field by field, the last value given wins, so the rows
      // are read in file order (rowid) before being merged.
      const ordered = `${stage.table}_ordered`;
      const inOrder = stage.rows(typed, issues, 1, 2);
      await tx.queryGlobal(`CREATE TEMP TABLE ${ordered} AS ${sql.good(inOrder.sql)}`, inOrder.params);
      rows = `SELECT _id, ${v.map((x) => `arg_max(${x}, rowid) FILTER (WHERE ${x} IS NOT NULL) AS ${x}`).join(", ")}
              FROM ${ordered} GROUP BY _id`;
      stage.dropLater(ordered);
    }
    const [existing] = await tx.query<{ n: number }>(schema.sandbox, "SELECT count(*) AS n FROM {profiles}");
    const params = duplicates ? [now] : [now, ...reread.params];
    if (Number(existing?.n ?? 0) === 0) {
      const [inserted] = await tx.query<{ Count: number }>(
        schema.sandbox,
        `INSERT INTO {profiles} (${sql.insertColumns}) SELECT _id, ${AT}, ${AT}, ${v.join(", ")} FROM (${rows})`,
        params,
      );
      // The good rows were read twice; a file changed in between would show here.
      if (!duplicates && Number(inserted?.Count) !== goodRows)
        throw new Error(
          `${context.file} changed while it was loaded: read ${goodRows} good rows, then ${inserted?.Count} (those were stored)`,
        );
    } else {
      // Absent cells are NULL here and keep the stored value: a file cannot clear a field.
      const set = columns.map((c, i) => `${targets[i]} = coalesce(s.v${c.index}, t.${targets[i]})`);
      await tx.query(
        schema.sandbox,
        `MERGE INTO {profiles} AS t USING (${rows}) AS s ON t._id = s._id
         WHEN MATCHED THEN UPDATE SET ${[...set, `_updated_at = ${AT}`].join(", ")}
         WHEN NOT MATCHED THEN INSERT (${sql.insertColumns}) VALUES (s._id, ${AT}, ${AT}, ${v.map((x) => `s.${x}`).join(", ")})`,
        params,
      );
    }
  }
  context.onProgress?.(staged + malformed.count);
  return { received: staged + malformed.count, stored: goodRows };
}

const EVENT_TYPE = "[A-Za-z][A-Za-z0-9_]*([.][A-Za-z][A-Za-z0-9_]*)*";

/**
 * Loads an events file on DuckDB the same way: typed rows, identities resolved by joins (an
 * unknown primary identity creates its profile; another unknown identity rejects the row, as
 * `insertEvents` does), one INSERT of the events. Issues are worded by `validateEvent`.
 */
export async function bulkLoadEvents(context: LoadContext, source: BulkSource): Promise<LoadCounts> {
  const { schema, now } = context;
  const columns = eventColumns(schema, source.header, context.file);
  const typeColumn = columns.find((c) => c.role === "type");
  const timestampColumn = columns.find((c) => c.role === "timestamp");
  const identities = columns.filter((c) => c.role === "identity");
  const properties = columns.filter((c) => c.role === "property");
  if (!typeColumn || !timestampColumn || !identities.length)
    throw new Error("eventColumns guarantees these columns");
  const type = `c${typeColumn.index}`;
  const ts = `c${timestampColumn.index}`;
  // The first identity given, in header order, names the profile.
  const namespace = `CASE ${identities.map((c) => `WHEN c${c.index} IS NOT NULL THEN '${c.namespace}'`).join(" ")} END`;
  const identity = `coalesce(${identities.map((c) => `c${c.index}`).join(", ")})`;
  const cellIssues = [
    `CAST(${ts} IS NOT NULL AND _ts IS NULL AS INTEGER)`,
    ...properties.map((c) => `CAST(c${c.index} IS NOT NULL AND v${c.index} IS NULL AS INTEGER)`),
  ].join(" + ");
  const recordIssues = [
    `CAST(${type} IS NULL OR NOT regexp_full_match(${type}, '${EVENT_TYPE}') AS INTEGER)`,
    `CAST(${ts} IS NULL AS INTEGER)`,
    `CAST(_ns IS NULL OR ${blankSql("_idv")} AS INTEGER)`,
  ].join(" + ");
  const primaryNamespace = schema.primaryIdentity.namespace;
  const others = identities.filter((c) => c.namespace !== primaryNamespace);
  const intact = gzipCheck(source);

  return onOwnConnection(context, source, async (tx, stage) => {
    const typedEvents = [
      `${type} AS _type`,
      `${cellSql("timestamp", ts)} AS _ts`,
      `${namespace} AS _ns`,
      `${identity} AS _idv`,
      ...properties.map((c) => `${cellSql(c.field.type, `c${c.index}`)} AS v${c.index}`),
    ];
    await stage.create(
      typedEvents,
      `CASE WHEN (${cellIssues}) > 0 THEN ${cellIssues} ELSE ${recordIssues} END`,
      typedEvents.map((c) => c.slice(c.lastIndexOf(" AS ") + 4)),
    );
    // Each good row's profile: the primary identity is the profile id; others are looked up.
    const lookups = others.map((c, i) => {
      const field = schema.identities.get(c.namespace);
      return {
        namespace: c.namespace,
        join: `LEFT JOIN (SELECT "${field?.path}" AS v, min(_id) AS id FROM ${"{profiles}"} WHERE "${field?.path}" IS NOT NULL GROUP BY 1) AS l${i}
               ON s._ns = '${c.namespace}' AND l${i}.v = s._idv`,
        id: `l${i}.id`,
      };
    });
    const profileId = `CASE WHEN s._ns = '${primaryNamespace}' THEN s._idv ${lookups.map((l) => `WHEN s._ns = '${l.namespace}' THEN ${l.id}`).join(" ")} END`;
    const resolved = `${stage.table}_resolved`;
    const resolve = `CREATE TEMP TABLE ${resolved} AS SELECT s.rowid AS g, ${profileId} AS _pid
      FROM ${stage.table} s ${lookups.map((l) => l.join).join(" ")} WHERE NOT s._bad`;
    // Only lookups read the profiles table; without them the statement touches no sandbox table.
    if (lookups.length) await tx.query(schema.sandbox, resolve);
    else await tx.queryGlobal(resolve);
    try {
      const [totals] = await tx.queryGlobal<{
        rows: number;
        bad: number;
        issues: number;
        unresolved: number;
      }>(
        `SELECT count(*) AS rows, count(*) FILTER (WHERE _bad) AS bad, coalesce(sum(_issues), 0) AS issues,
           (SELECT count(*) FROM ${resolved} WHERE _pid IS NULL) AS unresolved
         FROM ${stage.table}`,
      );
      const staged = Number(totals?.rows ?? 0);
      const badRows = Number(totals?.bad ?? 0);
      const unresolved = Number(totals?.unresolved ?? 0);
      context.onProgress?.(staged);
      const malformed = await stage.malformed();
      const listed = [...malformed.issues];
      if (badRows || unresolved) {
        const picked = await stage.firstRows(
          `_bad OR rowid IN (SELECT g FROM ${resolved} WHERE _pid IS NULL)`,
          ["_bad", "_ns", "_idv"],
        );
        for (const { row, cells, values } of picked) {
          if (!values._bad) {
            const ns = values._ns as string;
            listed.push({
              row,
              field: `identity.${ns}`,
              message: `no profile has identity ${ns}:${values._idv as string}`,
            });
            continue;
          }
          const converted = eventRowToRecord(columns, row, cells);
          const result = "record" in converted ? validateEvent(schema, converted.record, row) : converted;
          if (!("issues" in result)) throw disagreement(row);
          listed.push(...result.issues);
        }
      }
      report(
        context,
        malformed.count + badRows + unresolved,
        malformed.count + Number(totals?.issues ?? 0) + unresolved,
        listed,
      );

      await intact();
      const at = "CAST($1 AS TIMESTAMPTZ)";
      // Events often arrive before their profile: an unknown primary identity creates it.
      await tx.query(
        schema.sandbox,
        `INSERT INTO {profiles} (_id, _created_at, _updated_at, "${schema.primaryIdentity.path}")
         SELECT DISTINCT s._idv, ${at}, ${at}, s._idv FROM ${stage.table} s
         WHERE NOT s._bad AND s._ns = '${primaryNamespace}' AND NOT EXISTS (SELECT 1 FROM {profiles} p WHERE p._id = s._idv)`,
        [now],
      );
      const propertyNames = properties.map((c) => (c.role === "property" ? `"${c.field.path}"` : ""));
      const [inserted] = await tx.query<{ n: number }>(
        schema.sandbox,
        `INSERT INTO {events} (_id, _profile_id, _type, _ts, _ingested_at${propertyNames.map((p) => `, ${p}`).join("")})
         SELECT CAST(uuid() AS VARCHAR), r._pid, s._type, s._ts, ${at}${properties.map((c) => `, s.v${c.index}`).join("")}
         FROM ${stage.table} s JOIN ${resolved} r ON r.g = s.rowid WHERE r._pid IS NOT NULL`,
        [now],
      );
      // Recorded once the events are in (each statement here commits on its own): a failed load
      // records no type.
      await tx.query(
        schema.sandbox,
        recordLoadedTypesSql(
          `SELECT s._type FROM ${stage.table} s JOIN ${resolved} r ON r.g = s.rowid WHERE r._pid IS NOT NULL`,
        ),
        [now],
      );
      const stored = Number(
        (inserted as { Count?: number; n?: number } | undefined)?.Count ?? staged - badRows - unresolved,
      );
      context.onProgress?.(staged + malformed.count);
      return { received: staged + malformed.count, stored };
    } finally {
      await tx.queryGlobal(`DROP TABLE IF EXISTS ${resolved}`).catch(() => {});
    }
  });
}
