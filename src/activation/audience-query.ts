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
  /** SELECT count(*) per exclusion reason, over the same audience. */
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
   * DuckDB, when no column reads the membership: the same rows unsorted, in the profiles table's
   * own order (tableOrderPlan). Given the table's row slots, `SELECT ... AS n` of `rowSlotsSql`.
   */
  tableOrder?: { rowSlotsSql: string; plan: (rowSlots: number, rowsPerSlice?: number) => ExportPlan };
}

/** Profiles per query of a table-order export: its slice of the audience bitmap is 128 KiB. */
const ROWS_PER_SLICE = 1 << 20;

/**
 * The audience in the profiles table's own order, without a sort (DuckDB). DuckDB keeps a table's
 * order only through single-table queries (no join: its documentation on order preservation, and a
 * join's rows came out interleaved here), so the join with the members yields a bitmap instead, one
 * bit per profile row, sliced by row number; then each slice of the table is read on its own, its
 * rows kept by their bit, slice after slice. A sort of the whole audience (its payload moved,
 * spilled beyond the memory limit) was about 40% of the query's CPU at 10 M profiles. The bitmap
 * holds one bit per profile (12.5 MB for 100 M); each query reads its slice as a constant.
 */
function tableOrderPlan(
  query: { members: string; select: string; keep: string; params: unknown[] },
  rowSlots: number,
  rowsPerSlice: number,
): ExportPlan {
  const { members, select, keep, params } = query;
  const size = Math.trunc(rowsPerSlice);
  const slices = Math.max(1, Math.ceil(rowSlots / size));
  const bitmap = `SELECT p.rowid // ${size} AS slice, bitstring_agg(p.rowid % ${size}, 0, ${size - 1}) AS bits
    FROM {profiles} AS p WHERE p._id IN (SELECT m.profile_id FROM ${members}) GROUP BY slice`;
  // Slices without members stay in the list as NULL, so list position k + 1 is slice k.
  const setup = `SET VARIABLE herald_audience = (SELECT list(a.bits ORDER BY r.slice)
    FROM range(${slices}) AS r(slice) LEFT JOIN (${bitmap}) AS a ON a.slice = r.slice)`;
  const queries = Array.from({ length: slices }, (_, k) => {
    const first = k * size;
    return {
      sql: `SELECT ${select} FROM {profiles} AS p
        WHERE p.rowid >= ${first} AND p.rowid < ${first + size}
          AND get_bit(getvariable('herald_audience')[${k + 1}], CAST(p.rowid - ${first} AS INTEGER)) = 1 AND ${keep}`,
      params: [],
    };
  });
  return { setup: [{ sql: setup, params }], queries };
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
  // Profiles are the probe side of a semi join on the segment's members unless a column (or the
  // deduplication's recency) reads the membership itself: the hash table then holds member ids
  // only, and the engine never carries membership columns it does not output.
  const readsMembership =
    dedup !== undefined || input.mapping.columns.some((c) => c.source.kind === "membership");
  const base = readsMembership
    ? `FROM ${input.memberships.sql(1)} AS m JOIN {profiles} AS p ON p._id = m.profile_id WHERE ${membershipFilter}`
    : `FROM {profiles} AS p WHERE p._id IN (SELECT m.profile_id FROM ${members})`;
  const mandatory = columns.filter((c) => c.mandatory).map((c) => `${c.expression} IS NOT NULL`);
  const keep = mandatory.length ? mandatory.join(" AND ") : "TRUE";
  const select = columns.map((c) => `${c.expression} AS ${dialect.ident(c.target)}`).join(", ");
  // Rows leave in profile-id order, so a rerun writes byte-identical files and parts never overlap
  // (tableOrder's plan keeps both without the sort, where the engine allows it).
  const sql = dedup
    ? `SELECT ${columns.map((c) => dialect.ident(c.target)).join(", ")} FROM (
         SELECT ${select}, p._id AS herald_profile_id, ${dedup.map((d) => `${d} IS NULL`).join(" AND ")} AS herald_no_key,
           row_number() OVER (PARTITION BY ${dedup.join(", ")} ORDER BY m.changed_at DESC, p._id) AS herald_rank
         ${base} AND ${keep}) AS ranked WHERE herald_rank = 1 OR herald_no_key ORDER BY herald_profile_id`
    : `SELECT ${select} ${base} AND ${keep} ORDER BY p._id`;
  // Profiles without any key value are not duplicates of each other: they are all kept.
  const hasKey = dedup ? `(${keep}) AND NOT (${dedup.map((d) => `${d} IS NULL`).join(" AND ")})` : "";
  const duplicates = dedup
    ? `count(*) FILTER (WHERE ${hasKey}) - count(DISTINCT ${dedup.length === 1 ? dedup[0] : `(${dedup.join(", ")})`}) FILTER (WHERE ${hasKey})`
    : "0";
  const countsSql = `SELECT count(*) AS received, count(*) FILTER (WHERE NOT (${keep})) AS missing_mandatory, ${duplicates} AS duplicates ${base}`;
  return {
    sql,
    params,
    countsSql,
    excludes: mandatory.length > 0 || dedup !== undefined,
    membersSql: `SELECT count(*) AS n FROM ${members}`,
    ...(dialect.engine === "duckdb" && !readsMembership
      ? {
          tableOrder: {
            rowSlotsSql: "SELECT COALESCE(max(rowid) + 1, 0) AS n FROM {profiles}",
            plan: (rowSlots: number, rowsPerSlice = ROWS_PER_SLICE) =>
              tableOrderPlan({ members, select, keep, params }, rowSlots, rowsPerSlice),
          },
        }
      : {}),
  };
}
