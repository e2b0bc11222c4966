import type { SchemaSnapshot } from "../schema/index.ts";
import type { Dialect } from "../store/index.ts";
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
  // Rows leave in profile-id order, so a rerun writes byte-identical files and parts never overlap.
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
  };
}
