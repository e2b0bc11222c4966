import type { ConsentRequirement } from "../governance/index.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect, ExportPlan } from "../store/index.ts";
import { type Mapping, resolveMapping } from "./mapping.ts";

/**
 * Where memberships live, as the segments part stores them: one row per (segment, profile) with
 * the current status (`realized`, `existing`, `exited`) and when it last changed.
 */
export interface MembershipSource {
  /** A FROM item yielding profile_id, status, changed_at for segment `$segmentParam`. */
  sql: (segmentParam: number) => string;
}

export interface AudienceQuery {
  /** SELECT of the mapped columns, output names as aliases. */
  sql: string;
  params: unknown[];
  /** The output columns' names, in order. */
  columnNames: string[];
  /**
   * SELECT count(*) AS received, and of those the profiles lacking a mandatory column
   * (missing_mandatory), over the same audience. Duplicates are counted by `deduplication`.
   */
  countsSql: string;
  /**
   * Whether the mapping can exclude profiles (mandatory columns, a deduplication key). When it
   * cannot, every profile received is exported: the rows written are the count, and `membersSql`
   * (the segment's memberships alone, no join with profiles) bounds it before the export.
   */
  excludes: boolean;
  /** SELECT count(*) AS n of the memberships the export reads: at least the rows it yields. */
  membersSql: string;
  /**
   * With a deduplication key: its work split by a hash of the key into `partitions(rows, budget)`
   * parts (for `rows` profiles that have the key, the engine's memory budget in bytes, as
   * `Store.memoryBudget`), each grouped on its own, so that no single
   * aggregation holds every key (DuckDB cannot group 100 M distinct string keys within a 448MB
   * budget; 12.5 M at a time it can). `duplicatesSql(part, parts)`: SELECT ... AS duplicates,
   * the profiles of that part beyond the first per key.
   */
  deduplication?: {
    partitions: (rows: number, memoryBudget?: number) => number;
    duplicatesSql: (part: number, parts: number) => string;
  };
  /**
   * DuckDB, when no column reads the membership: the same rows unsorted, in the profiles table's
   * own order (tableOrderPlan). Given the table's row slots, `SELECT ... AS n` of `rowSlotsSql`,
   * and with a deduplication key the number of its partitions.
   */
  tableOrder?: {
    rowSlotsSql: string;
    plan: (rowSlots: number, options?: { rowsPerSlice?: number; partitions?: number }) => ExportPlan;
  };
}

/** Profiles per query of a table-order export: its slice of the audience bitmap is 128 KiB. */
const ROWS_PER_SLICE = 1 << 20;

/**
 * Bytes of the engine's budget per profile with a deduplication key grouped at a time (DuckDB): at
 * 448MB, 12.5 M keys grouped with their memberships' recency fit and 25 M did not (100 M-profile
 * store, docs/benchmarks.md); 56 bytes a profile (8 M at 448MB) leaves room for wider keys.
 */
const BUDGET_BYTES_PER_KEYED_ROW = 56;
/** Without a known budget, parts of the size that fits 448MB. */
const DEFAULT_KEYED_ROWS_PER_PARTITION = 8_000_000;

/**
 * The audience in the profiles table's own order, without a sort (DuckDB). DuckDB keeps a table's
 * order only through single-table queries (no join: its documentation on order preservation, and a
 * join's rows came out interleaved here), so the join with the members yields a bitmap instead, one
 * bit per profile row, sliced by row number; then each slice of the table is read on its own, its
 * rows kept by their bit, slice after slice. A sort of the whole audience (its payload moved,
 * spilled beyond the memory limit) was about 40% of the query's CPU at 10 M profiles. The bitmap
 * holds one bit per profile (12.5 MB for 100 M); each query reads its slice as a constant.
 * `rows` are the SELECTs of the row ids whose bits are set, one statement each, the later ones
 * OR-ed into the bitmap (a deduplication's partitions); `keep` filters the rows read as well.
 */
function tableOrderPlan(
  query: { rows: string[]; select: string; keep: string; params: unknown[] },
  rowSlots: number,
  rowsPerSlice: number,
): ExportPlan {
  const { rows, select, keep, params } = query;
  const size = Math.trunc(rowsPerSlice);
  const slices = Math.max(1, Math.ceil(rowSlots / size));
  const bitmap = (ids: string) => `SELECT ids.rowid // ${size} AS slice,
      bitstring_agg(ids.rowid % ${size}, 0, ${size - 1}) AS bits FROM (${ids}) AS ids GROUP BY slice`;
  // Slices without members stay in the list as NULL, so list position k + 1 is slice k. The
  // bitmap so far is unnested once: read per row, `getvariable(...)[i]` copied the whole list each
  // time (peak RSS 1.2 GiB at a 448MB budget for 100 M rows' bits, and 10x the time).
  const slicesSoFar = `(SELECT unnest(v) AS bits, generate_subscripts(v, 1) - 1 AS slice
      FROM (SELECT getvariable('herald_audience') AS v) AS so_far)`;
  const setup = rows.map((ids, index) => ({
    sql:
      index === 0
        ? `SET VARIABLE herald_audience = (SELECT list(a.bits ORDER BY r.slice)
            FROM range(${slices}) AS r(slice) LEFT JOIN (${bitmap(ids)}) AS a ON a.slice = r.slice)`
        : `SET VARIABLE herald_audience = (SELECT list(COALESCE(r.bits | a.bits, r.bits, a.bits) ORDER BY r.slice)
            FROM ${slicesSoFar} AS r LEFT JOIN (${bitmap(ids)}) AS a ON a.slice = r.slice)`,
    params,
  }));
  const queries = Array.from({ length: slices }, (_, k) => {
    const first = k * size;
    return {
      sql: `SELECT ${select} FROM {profiles} AS p
        WHERE p.rowid >= ${first} AND p.rowid < ${first + size}
          AND get_bit(getvariable('herald_audience')[${k + 1}], CAST(p.rowid - ${first} AS INTEGER)) = 1 AND ${keep}`,
      params: [],
    };
  });
  return { setup, queries };
}

/**
 * A consent requirement as SQL on the profile `p`: its field, as text, is one of the allowed values
 * (compared as text, so a boolean or number field matches "true" or "1"); a missing value is no
 * consent. The values are literals (a table-order plan's queries take no parameters of their own).
 */
function consentSql(dialect: Dialect, requirement: ConsentRequirement): string {
  const values = requirement.allowedValues.map((v) => `'${String(v).replaceAll("'", "''")}'`);
  return `COALESCE(CAST(p.${dialect.ident(requirement.field)} AS TEXT) IN (${values.join(", ")}), FALSE)`;
}

/**
 * The export query of one segment: full (all current members) or incremental (every membership
 * changed since the last successful export, exits included). Mandatory columns exclude profiles
 * that lack them; a deduplication key keeps, of profiles sharing it, the most recently qualified
 * (ties broken by profile id, so reruns give the same rows).
 */
export function buildAudienceQuery(input: {
  schema: SchemaSnapshot;
  dialect: Dialect;
  mapping: Mapping;
  memberships: MembershipSource;
  segmentId: string;
  mode: "full" | "incremental";
  since?: Date;
  /**
   * The consent the dataflow's marketing actions require (src/governance, consent policies): a
   * profile whose field does not hold one of the values, missing included, is excluded and counted.
   */
  consent?: readonly ConsentRequirement[];
}): AudienceQuery {
  const { dialect } = input;
  const columns = resolveMapping(input.mapping, input.schema, dialect);
  const params: unknown[] = [input.segmentId];
  const membershipFilter =
    input.mode === "full"
      ? "m.status IN ('realized', 'existing')"
      : input.since
        ? `m.changed_at > $${params.push(input.since)}`
        : "m.status IN ('realized', 'existing')";
  const members = `${input.memberships.sql(1)} AS m WHERE ${membershipFilter}`;
  const dedup = input.mapping.deduplicationKey?.map((key) => {
    const column = columns.find((c) => c.target === key);
    return column?.expression ?? "NULL";
  });
  const membershipColumns = input.mapping.columns.some((c) => c.source.kind === "membership");
  const joined = `FROM ${input.memberships.sql(1)} AS m JOIN {profiles} AS p ON p._id = m.profile_id WHERE ${membershipFilter}`;
  // Profiles are the probe side of a semi join on the segment's members unless a column (or the
  // deduplication's recency) reads the membership itself: the hash table then holds member ids
  // only, and the engine never carries membership columns it does not output.
  const semi = `FROM {profiles} AS p WHERE p._id IN (SELECT m.profile_id FROM ${members})`;
  const base = dedup !== undefined || membershipColumns ? joined : semi;
  const mandatory = columns.filter((c) => c.mandatory).map((c) => `${c.expression} IS NOT NULL`);
  const consented = (input.consent ?? []).map((c) => consentSql(dialect, c));
  const keep = [...consented, ...mandatory].join(" AND ") || "TRUE";
  const consentKept = consented.join(" AND ") || "TRUE";
  const select = columns.map((c) => `${c.expression} AS ${dialect.ident(c.target)}`).join(", ");
  // Profiles without any key value are not duplicates of each other: they are all kept.
  const noKey = dedup ? dedup.map((d) => `${d} IS NULL`).join(" AND ") : "TRUE";
  const inPart = (part: number, parts: number) =>
    parts > 1 ? ` AND hash(${dedup?.join(", ")}) % ${parts} = ${part}` : "";
  // Of the profiles sharing a key, the most recently qualified, ties broken by profile id.
  const rank = dedup
    ? `row_number() OVER (PARTITION BY ${dedup.join(", ")} ORDER BY m.changed_at DESC, p._id)`
    : "";
  // Rows leave in profile-id order, so a rerun writes byte-identical files and parts never overlap
  // (tableOrder's plan keeps both without the sort, where the engine allows it).
  const sql = dedup
    ? `SELECT ${columns.map((c) => dialect.ident(c.target)).join(", ")} FROM (
         SELECT ${select}, p._id AS herald_profile_id, ${noKey} AS herald_no_key, ${rank} AS herald_rank
         ${base} AND ${keep}) AS ranked WHERE herald_rank = 1 OR herald_no_key ORDER BY herald_profile_id`
    : `SELECT ${select} ${base} AND ${keep} ORDER BY p._id`;
  // Consent first: a profile without it is counted for consent whatever its mandatory columns.
  const countsSql = `SELECT count(*) AS received, count(*) FILTER (WHERE NOT (${consentKept})) AS no_consent,
      count(*) FILTER (WHERE (${consentKept}) AND NOT (${keep})) AS missing_mandatory ${semi}`;
  // A part's winners join its members with its profiles, the members first narrowed to the part's
  // profiles (a semi join on their ids): the join's hash table then never holds more than a part,
  // whichever side DuckDB builds it on. Joined whole, a tenth of a 100 M store (10 M members, built
  // on) ran out of memory at 448MB.
  const tableOrderRows = (parts: number): string[] =>
    dedup
      ? [
          `SELECT p.rowid ${semi} AND ${keep} AND ${noKey}`,
          ...Array.from(
            { length: parts },
            (_, part) =>
              `SELECT p.rowid FROM (SELECT m.profile_id, m.changed_at FROM ${members} AND m.profile_id IN (
                  SELECT p._id FROM {profiles} AS p WHERE ${keep} AND NOT (${noKey})${inPart(part, parts)})) AS m
                JOIN {profiles} AS p ON p._id = m.profile_id
                WHERE ${keep} AND NOT (${noKey})${inPart(part, parts)} QUALIFY ${rank} = 1`,
          ),
        ]
      : [`SELECT p.rowid ${semi}`];
  return {
    sql,
    params,
    columnNames: columns.map((c) => c.target),
    countsSql,
    excludes: mandatory.length > 0 || dedup !== undefined || consented.length > 0,
    membersSql: `SELECT count(*) AS n FROM ${members}`,
    ...(dedup
      ? {
          deduplication: {
            partitions: (rows: number, memoryBudget?: number) => {
              if (dialect.engine !== "duckdb") return 1;
              const perPart = memoryBudget
                ? Math.max(1_000_000, Math.floor(memoryBudget / BUDGET_BYTES_PER_KEYED_ROW))
                : DEFAULT_KEYED_ROWS_PER_PARTITION;
              return Math.max(1, Math.ceil(rows / perPart));
            },
            duplicatesSql: (part: number, parts: number) =>
              `SELECT COALESCE(sum(keys.n) - count(*), 0) AS duplicates FROM (SELECT count(*) AS n
                ${semi} AND ${keep} AND NOT (${noKey})${inPart(part, parts)} GROUP BY ${dedup.join(", ")}) AS keys`,
          },
        }
      : {}),
    ...(dialect.engine === "duckdb" && !membershipColumns
      ? {
          tableOrder: {
            rowSlotsSql: "SELECT COALESCE(max(rowid) + 1, 0) AS n FROM {profiles}",
            plan: (rowSlots: number, options: { rowsPerSlice?: number; partitions?: number } = {}) =>
              tableOrderPlan(
                // The bitmap of a deduplicated audience holds only the rows kept.
                {
                  rows: tableOrderRows(options.partitions ?? 1),
                  select,
                  keep: dedup ? "TRUE" : keep,
                  params,
                },
                rowSlots,
                options.rowsPerSlice ?? ROWS_PER_SLICE,
              ),
          },
        }
      : {}),
  };
}
