import { HeraldError, type Issue, isHeraldError } from "../../errors/index.ts";
import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Store } from "../../store/index.ts";
import { ingestEventRecords, ingestProfileRecords } from "../ingest-records.ts";
import type { ProfileWrite } from "../records.ts";
import { upsertProfiles } from "../upsert.ts";
import type { FieldValue } from "../values.ts";
import { parseCell, parseFileTimestamp } from "./cells.ts";
import { type EventColumn, eventColumns, type ProfileColumn, profileColumns } from "./columns.ts";
import type { CsvRow } from "./csv-tokenizer.ts";
import type { IssueCollector } from "./issues.ts";
import { upsertFileProfiles } from "./postgres-upsert.ts";
import type { TextRows } from "./text-sources.ts";

/** Records written per store round trip on the row-by-row path. */
export const WRITE_BATCH = 10_000;

export interface LoadContext {
  store: Store;
  schema: SchemaSnapshot;
  file: string;
  collector: IssueCollector;
  onProgress?: (rows: number) => void;
  now: Date;
}

export interface LoadCounts {
  received: number;
  stored: number;
}

/** One row of a profiles file as a write, or the issues that reject it (cells in column order). */
export function profileRowToWrite(
  schema: SchemaSnapshot,
  columns: readonly ProfileColumn[],
  row: number,
  cells: readonly string[],
): { write: ProfileWrite } | { issues: Issue[] } {
  const issues: Issue[] = [];
  const values = new Map<string, FieldValue>();
  for (const { index, field } of columns) {
    const text = cells[index] as string;
    if (text === "") continue;
    const parsed = parseCell(field.type, text);
    if (parsed.ok) values.set(field.path, parsed.value);
    else issues.push({ row, field: field.path, message: `${field.path}: ${parsed.reason}` });
  }
  const primary = schema.primaryIdentity;
  const id = values.get(primary.path);
  if (typeof id !== "string" || id.trim() === "") {
    if (!issues.some((i) => i.field === primary.path))
      issues.push({
        row,
        field: primary.path,
        message: `missing identity: the primary identity '${primary.path}' (${primary.namespace}) is required`,
      });
  }
  return issues.length ? { issues } : { write: { id: id as string, values } };
}

/** A file's JSON form for `FieldValue`s: timestamps as ISO text, which the event validator reads. */
function jsonValue(value: FieldValue): unknown {
  return value instanceof Date ? value.toISOString() : value;
}

/**
 * One row of an events file as the event record the API takes. The first non-empty identity
 * column (in header order) names the profile; cells are typed by the schema's event fields.
 */
export function eventRowToRecord(
  columns: readonly EventColumn[],
  row: number,
  cells: readonly string[],
): { record: Record<string, unknown> } | { issues: Issue[] } {
  const issues: Issue[] = [];
  const record: Record<string, unknown> = {};
  const identity: Record<string, string> = {};
  const properties: Record<string, unknown> = {};
  for (const column of columns) {
    const text = cells[column.index] as string;
    if (text === "") continue;
    switch (column.role) {
      case "type":
        record.type = text;
        break;
      case "timestamp": {
        const at = parseFileTimestamp(text);
        if (at) record.timestamp = at.toISOString();
        else
          issues.push({
            row,
            field: "timestamp",
            message: `timestamp: unparseable timestamp ${JSON.stringify(text)}`,
          });
        break;
      }
      case "identity":
        if (Object.keys(identity).length === 0) identity[column.namespace] = text;
        break;
      case "property": {
        const parsed = parseCell(column.field.type, text);
        if (parsed.ok) properties[column.field.path] = jsonValue(parsed.value);
        else
          issues.push({
            row,
            field: `properties.${column.field.path}`,
            message: `properties.${column.field.path}: ${parsed.reason}`,
          });
        break;
      }
    }
  }
  if (issues.length) return { issues };
  record.identity = identity;
  record.properties = properties;
  // A row without a timestamp cell gets the validator's own message.
  if (!("timestamp" in record)) record.timestamp = null;
  return { record };
}

function byRow(a: Issue, b: Issue) {
  return (a.row ?? 0) - (b.row ?? 0);
}

const GZIP_DAMAGE = ["truncated_gzip", "malformed_gzip"];

/**
 * A file that fails part way (a truncated gzip stream): the whole rows read before are stored, as
 * earlier batches were, and the error says how many, so that nothing is stored unreported.
 */
async function afterDamage(
  error: unknown,
  flush: () => Promise<void>,
  counts: () => LoadCounts,
  collector: IssueCollector,
): Promise<unknown> {
  if (!isHeraldError(error) || !GZIP_DAMAGE.includes(error.code)) return error;
  await flush();
  const { received, stored } = counts();
  return new HeraldError(
    error.kind,
    error.code,
    `${error.message}: the rows before it were read (${received} received, ${stored} stored, ${collector.rejectedRows} rejected); the rest of the file was not`,
    [...collector.issues, ...error.issues],
  );
}

/** Profiles from text rows (CSV, Parquet), row by row, upserted in batches: every engine. */
export async function loadProfileRows(context: LoadContext, source: TextRows): Promise<LoadCounts> {
  const { store, schema, collector, now } = context;
  const columns = profileColumns(schema, source.header, context.file);
  let received = 0;
  let stored = 0;
  let writes: ProfileWrite[] = [];
  const flush = async () => {
    if (!writes.length) return;
    // PostgreSQL takes a file's batch in one statement; DuckDB loads files on its bulk path, and
    // reaches this only for what that path does not take.
    if (store.engine === "postgres") await upsertFileProfiles(store, schema, columns, writes, now);
    else await upsertProfiles(store, schema, writes, now);
    stored += writes.length;
    writes = [];
    context.onProgress?.(received);
  };
  try {
    for await (const batch of source.batches) {
      for (const row of batch) {
        received++;
        if ("error" in row) {
          collector.reject([{ row: row.row, message: row.error }]);
          continue;
        }
        const result = profileRowToWrite(schema, columns, row.row, row.cells);
        if ("write" in result) writes.push(result.write);
        else collector.reject(result.issues);
      }
      if (writes.length >= WRITE_BATCH) await flush();
    }
  } catch (error) {
    throw await afterDamage(error, flush, () => ({ received, stored }), collector);
  }
  await flush();
  context.onProgress?.(received);
  return { received, stored };
}

/** Events from text rows, through the same validation and identity resolution as the API. */
export async function loadEventRows(context: LoadContext, source: TextRows): Promise<LoadCounts> {
  const columns = eventColumns(context.schema, source.header, context.file);
  const records = (async function* () {
    for await (const batch of source.batches) {
      yield batch.map((row: CsvRow): NumberedRecord => {
        if ("error" in row) return { row: row.row, issues: [{ row: row.row, message: row.error }] };
        const result = eventRowToRecord(columns, row.row, row.cells);
        return "record" in result
          ? { row: row.row, record: result.record }
          : { row: row.row, issues: result.issues };
      });
    }
  })();
  return loadRecords(context, "events", records);
}

/** A record with its row (or line) number, or the issues that already reject it. */
export type NumberedRecord = { row: number; record: unknown } | { row: number; issues: Issue[] };

/**
 * Validates and stores numbered records in batches through `ingestProfileRecords` /
 * `ingestEventRecords` (the API's own path), renumbering their issues with file rows.
 */
export async function loadRecords(
  context: LoadContext,
  kind: "profiles" | "events",
  batches: AsyncIterable<NumberedRecord[]>,
): Promise<LoadCounts> {
  const { store, schema, collector, now } = context;
  let received = 0;
  let stored = 0;
  let pending: NumberedRecord[] = [];
  const flush = async () => {
    if (!pending.length) return;
    const valid = pending.filter((r): r is { row: number; record: unknown } => "record" in r);
    const rows = valid.map((r) => r.row);
    const ingest = kind === "profiles" ? ingestProfileRecords : ingestEventRecords;
    const report = valid.length
      ? await ingest(
          store,
          schema,
          valid.map((r) => r.record),
          0,
          now,
        )
      : { stored: 0, issues: [] as Issue[] };
    stored += report.stored;
    const issuesByRow = new Map<number, Issue[]>();
    for (const r of pending) if ("issues" in r) issuesByRow.set(r.row, r.issues);
    for (const issue of report.issues) {
      const row = rows[issue.row ?? 0] as number;
      const list = issuesByRow.get(row) ?? [];
      list.push({ ...issue, row });
      issuesByRow.set(row, list);
    }
    for (const row of [...issuesByRow.keys()].sort((a, b) => a - b))
      collector.reject((issuesByRow.get(row) as Issue[]).sort(byRow));
    pending = [];
    context.onProgress?.(received);
  };
  try {
    for await (const batch of batches) {
      for (const record of batch) {
        received++;
        pending.push(record);
      }
      if (pending.length >= WRITE_BATCH) await flush();
    }
  } catch (error) {
    throw await afterDamage(error, flush, () => ({ received, stored }), collector);
  }
  await flush();
  return { received, stored };
}
