import { randomUUID } from "node:crypto";
import type { Issue } from "../../errors/index.ts";
import type { Executor } from "../../store/index.ts";
import { blankSql, cellSql } from "./cells.ts";
import { profileColumns } from "./columns.ts";
import { MAX_ROW_CHARS } from "./csv-tokenizer.ts";
import { emptyRowNumbers } from "./empty-lines.ts";
import type { FileInput } from "./input.ts";
import { MAX_REPORTED_ISSUES } from "./issues.ts";
import { type LoadContext, type LoadCounts, profileRowToWrite } from "./load-rows.ts";

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
      return "malformed CSV: invalid UTF-8";
    default:
      return `malformed CSV: ${message.split("\n")[0]}`;
  }
}

/**
 * Loads a profiles file on DuckDB without turning rows into JavaScript values: DuckDB reads the
 * file into a temporary table of typed values (the cell rules of `cellSql`, which match
 * `parseCell`), and one MERGE upserts the good rows with the semantics of `upsertProfiles`
 * (absent cells keep the stored value; a profile named twice in the file takes, field by field, the
 * last value given). Only the rejected rows come back to JavaScript, which words their issues
 * with the row-by-row path's own code, so both paths report the same issues.
 *
 * Row numbers: DuckDB keeps the file order of the rows it reads (`rowid`) and reports the row of
 * each malformed one; rows it skipped (malformed and empty ones) are merged back in to number the rest.
 */
export async function bulkLoadProfiles(context: LoadContext, source: BulkSource): Promise<LoadCounts> {
  const { store, schema, collector, now } = context;
  const columns = profileColumns(schema, source.header, context.file);
  const primary = columns.find((c) => c.field.path === schema.primaryIdentity.path);
  if (!primary) throw new Error("profileColumns guarantees the primary identity column");
  const emptyRows = source.kind === "csv" ? await emptyRowNumbers(source.input, source.delimiter) : [];
  const suffix = randomUUID().replaceAll("-", "").slice(0, 16);
  const stage = `herald_stage_${suffix}`;
  const rejects = `herald_rejects_${suffix}`;
  const scans = `herald_scans_${suffix}`;
  const width = source.header.length;
  const cells = Array.from({ length: width }, (_, i) => `c${i}`);

  let from: string;
  let params: unknown[];
  if (source.kind === "csv") {
    const names = cells.map((c) => `'${c}': 'VARCHAR'`).join(", ");
    from = `read_csv($1, header = true, delim = $2, quote = '"', escape = '"', columns = {${names}},
      auto_detect = false, compression = $3, max_line_size = $4,
      store_rejects = true, rejects_table = '${rejects}', rejects_scan = '${scans}')`;
    params = [source.input.path, source.delimiter, source.input.gzip ? "gzip" : "none", MAX_ROW_CHARS];
  } else {
    from = `(SELECT ${source.textColumns.map((sql, i) => `${sql} AS c${i}`).join(", ")} FROM read_parquet($1))`;
    params = [source.file];
  }
  const values = columns.map((c) => `${cellSql(c.field.type, `c${c.index}`)} AS v${c.index}`);
  const badCells = columns
    .filter((c) => c.field.type !== "string")
    .map((c) => `CAST(c${c.index} IS NOT NULL AND v${c.index} IS NULL AS INTEGER)`);
  badCells.push(`CAST(v${primary.index} IS NULL OR ${blankSql(`v${primary.index}`)} AS INTEGER)`);
  const v = columns.map((c) => `v${c.index}`);

  return store.transaction((tx: Executor) =>
    withoutExplicitTransaction(tx, async () => {
      await tx.queryGlobal(
        `CREATE TEMP TABLE ${stage} AS
       SELECT ${v.join(", ")}, _bad_cells, _bad_cells > 0 AS _bad,
         ${cells.map((c) => `CASE WHEN _bad_cells > 0 THEN ${c} END AS r${c.slice(1)}`).join(", ")}
       FROM (SELECT *, ${badCells.join(" + ")} AS _bad_cells
             FROM (SELECT ${[...cells, ...values].join(", ")} FROM ${from}))`,
        params,
      );
      const [totals] = await tx.queryGlobal<{ rows: number; bad: number; issues: number; ids: number }>(
        `SELECT count(*) AS rows, count(*) FILTER (WHERE _bad) AS bad, coalesce(sum(_bad_cells), 0) AS issues,
         count(DISTINCT v${primary.index}) FILTER (WHERE NOT _bad) AS ids
       FROM ${stage}`,
      );
      const staged = Number(totals?.rows ?? 0);
      const badRows = Number(totals?.bad ?? 0);
      const goodRows = staged - badRows;
      context.onProgress?.(staged);

      // Rows DuckDB's reader rejected (numbered as the file's rows; the header is row 0).
      const rejected =
        source.kind === "csv"
          ? `(SELECT DISTINCT line - 1 AS row FROM ${rejects})`
          : "(SELECT 0 AS row WHERE false)";
      const [{ n: malformedRows = 0 } = {}] = await tx.queryGlobal<{ n: number }>(
        `SELECT count(*) AS n FROM ${rejected}`,
      );
      const malformed =
        source.kind === "csv" && malformedRows
          ? await tx.queryGlobal<{ row: number; type: string; message: string }>(
              `SELECT line - 1 AS row, min(error_type) AS type, min(error_message) AS message
             FROM ${rejects} GROUP BY line ORDER BY row LIMIT ${MAX_REPORTED_ISSUES}`,
            )
          : [];
      const malformedIssues: Issue[] = malformed.map((m) => ({
        row: Number(m.row),
        message: csvErrorMessage(m.type, m.message, width),
      }));

      // The first rejected rows, numbered past the skipped ones (see the doc comment).
      const badSample = badRows
        ? await tx.queryGlobal<Record<string, unknown>>(
            `WITH skipped AS (SELECT row, row_number() OVER (ORDER BY row) AS k
                            FROM (SELECT row FROM ${rejected} UNION ALL SELECT unnest(CAST($1 AS BIGINT[])))),
             steps AS (SELECT row - k AS at, max(k) AS k FROM skipped GROUP BY ALL),
             bad AS (SELECT rowid AS g, ${cells.map((c) => `r${c.slice(1)}`).join(", ")} FROM ${stage} WHERE _bad ORDER BY rowid LIMIT ${MAX_REPORTED_ISSUES})
           SELECT bad.g + 1 + coalesce(steps.k, 0) AS _row, bad.* FROM bad ASOF LEFT JOIN steps ON bad.g >= steps.at
           ORDER BY _row`,
            [emptyRows],
          )
        : [];
      const badIssues: Issue[] = [];
      for (const record of badSample) {
        const row = Number(record._row);
        const text = cells.map((c) => (record[`r${c.slice(1)}`] as string | null) ?? "");
        const result = profileRowToWrite(schema, columns, row, text);
        if (!("issues" in result))
          throw new Error(`Row ${row}: DuckDB and JavaScript disagree on the file's cell rules (a bug)`);
        badIssues.push(...result.issues);
      }
      const merged = [...malformedIssues, ...badIssues].sort((a, b) => (a.row ?? 0) - (b.row ?? 0));
      // Counted per row as the collector counts them; the list is cut at its limit.
      collector.rejectedRows += Number(malformedRows) + badRows;
      collector.total += Number(malformedRows) + Number(totals?.issues ?? 0);
      for (const issue of merged)
        if (collector.issues.length < MAX_REPORTED_ISSUES) collector.issues.push(issue);

      if (goodRows > 0) {
        const targets = columns.map((c) => store.dialect.ident(c.field.path));
        const duplicates = Number(totals?.ids ?? 0) < goodRows;
        const sourceSql = duplicates
          ? `SELECT v${primary.index} AS _id, ${v.map((x) => `arg_max(${x}, rowid) FILTER (WHERE ${x} IS NOT NULL) AS ${x}`).join(", ")}
           FROM ${stage} WHERE NOT _bad GROUP BY v${primary.index}`
          : `SELECT v${primary.index} AS _id, ${v.join(", ")} FROM ${stage} WHERE NOT _bad`;
        const [existing] = await tx.query<{ n: number }>(
          schema.sandbox,
          "SELECT count(*) AS n FROM {profiles}",
        );
        const insertColumns = ["_id", "_created_at", "_updated_at", ...targets].join(", ");
        if (Number(existing?.n ?? 0) === 0) {
          await tx.query(
            schema.sandbox,
            `INSERT INTO {profiles} (${insertColumns}) SELECT _id, CAST($1 AS TIMESTAMPTZ), CAST($1 AS TIMESTAMPTZ), ${v.join(", ")} FROM (${sourceSql})`,
            [now],
          );
        } else {
          // Absent cells are NULL here and keep the stored value: a file cannot clear a field.
          const set = columns.map((c, i) => `${targets[i]} = coalesce(s.v${c.index}, t.${targets[i]})`);
          await tx.query(
            schema.sandbox,
            `MERGE INTO {profiles} AS t USING (${sourceSql}) AS s ON t._id = s._id
           WHEN MATCHED THEN UPDATE SET ${[...set, "_updated_at = $1"].join(", ")}
           WHEN NOT MATCHED THEN INSERT (${insertColumns}) VALUES (s._id, $1, $1, ${v.map((x) => `s.${x}`).join(", ")})`,
            [now],
          );
        }
      }
      await tx.queryGlobal(`DROP TABLE IF EXISTS ${stage}`);
      if (source.kind === "csv") {
        await tx.queryGlobal(`DROP TABLE IF EXISTS ${rejects}`);
        await tx.queryGlobal(`DROP TABLE IF EXISTS ${scans}`);
      }
      context.onProgress?.(staged + Number(malformedRows));
      return { received: staged + Number(malformedRows), stored: goodRows };
    }),
  );
}

/**
 * The store's transaction gives the load its own connection (its temporary tables live there) and
 * the store's write lock. The bulk statements themselves run outside an explicit transaction, one
 * atomic statement at a time, since DuckDB appends about twice as fast then; the explicit
 * transaction is reopened before control returns, whether the work succeeded or not.
 */
async function withoutExplicitTransaction<T>(tx: Executor, work: () => Promise<T>): Promise<T> {
  await tx.queryGlobal("COMMIT");
  try {
    return await work();
  } finally {
    await tx.queryGlobal("BEGIN TRANSACTION");
  }
}
