import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Dialect } from "../../store/index.ts";
import type { SegmentAst } from "../ast.ts";
import { noSegments, type SegmentResolver } from "../references.ts";
import { clockAt } from "../time.ts";
import { compileCondition } from "./condition.ts";
import type { EventAggregation, SqlContext } from "./context.ts";
import { AGGREGATE_ALIAS, AGGREGATED_EVENT } from "./events.ts";
import { SqlParams } from "./params.ts";

export interface CompileSqlOptions {
  dialect: Dialect;
  schema: SchemaSnapshot;
  /** The evaluation moment: every window, age and birthday is resolved against it, as a parameter. */
  now: Date;
  resolve?: SegmentResolver;
  /**
   * Only profiles whose id hashes into the first `buckets` of `of` buckets: a deterministic sample,
   * applied to events too so the pre-aggregation reads only the sample's events.
   */
  sample?: { buckets: number; of: number };
}

export interface CompiledSql {
  sql: string;
  params: unknown[];
}

const PROFILE = "p";

/**
 * `bucket(id) < buckets`: whether a profile id hashes into the sample. Parameters carry the
 * hash's own integer type: comparing DuckDB's UBIGINT hash with a DOUBLE costs 40 times more.
 */
function inSample(
  dialect: Dialect,
  params: SqlParams,
  sample: { buckets: number; of: number },
): (expr: string) => string {
  if (dialect.engine === "duckdb") {
    const of = params.add(sample.of, "UBIGINT");
    const below = params.add(sample.buckets, "UBIGINT");
    return (expr) => `hash(${expr}) % ${of} < ${below}`;
  }
  const of = params.add(sample.of, "INTEGER");
  const below = params.add(sample.buckets, "INTEGER");
  return (expr) => `(hashtext(${expr}) & 2147483647) % ${of} < ${below}`;
}

function context(
  options: CompileSqlOptions,
  params: SqlParams,
  aggregation: EventAggregation,
  ast: SegmentAst,
  segmentId: string | undefined,
): SqlContext {
  let aliases = 0;
  return {
    dialect: options.dialect,
    schema: options.schema,
    params,
    clock: clockAt(options.now, ast.timezone ?? "UTC"),
    resolve: options.resolve ?? noSegments,
    stack: segmentId ? [segmentId] : [],
    negated: false,
    scope: { kind: "profile", alias: PROFILE },
    aggregation,
    alias: (prefix) => `${prefix}${aliases++}`,
  };
}

function fromClause(
  options: CompileSqlOptions,
  params: SqlParams,
  aggregation: EventAggregation,
): { with: string; from: string; where: string[] } {
  const { dialect, sample } = options;
  const where: string[] = [];
  const eventWhere: string[] = [];
  if (sample) {
    const sampled = inSample(dialect, params, sample);
    where.push(sampled(`${PROFILE}._id`));
    eventWhere.push(sampled(`${AGGREGATED_EVENT}._profile_id`));
  }
  if (!aggregation.columns.length) return { with: "", from: `{profiles} AS ${PROFILE}`, where };
  // Only events some aggregate counts: lets the engine prune by type and time before grouping.
  eventWhere.unshift(`(${aggregation.filters.join(" OR ")})`);
  return {
    with: `WITH ${AGGREGATE_ALIAS} AS (SELECT ${AGGREGATED_EVENT}._profile_id AS profile_id, ${aggregation.columns.join(", ")}
      FROM {events} AS ${AGGREGATED_EVENT} WHERE ${eventWhere.join(" AND ")} GROUP BY ${AGGREGATED_EVENT}._profile_id) `,
    from: `{profiles} AS ${PROFILE} LEFT JOIN ${AGGREGATE_ALIAS} ON ${AGGREGATE_ALIAS}.profile_id = ${PROFILE}._id`,
    where,
  };
}

/**
 * A segment as one SELECT of the `_id` of qualifying profiles, for `store.query(sandbox, ...)`:
 * profile conditions on `{profiles}`, event conditions through a per-profile pre-aggregation of
 * `{events}` (or correlated subqueries for sequences and latest values). Values are parameters.
 */
export function compileSegmentToSql(
  ast: SegmentAst,
  options: CompileSqlOptions & { segmentId?: string },
): CompiledSql {
  const params = new SqlParams();
  const aggregation: EventAggregation = { columns: [], filters: [] };
  const ctx = context(options, params, aggregation, ast, options.segmentId);
  const condition = compileCondition(ctx, ast.condition);
  const from = fromClause(options, params, aggregation);
  const where = [...from.where, condition].join(" AND ");
  return { sql: `${from.with}SELECT ${PROFILE}._id FROM ${from.from} WHERE ${where}`, params: params.values };
}

/**
 * Several segments in one pass: one row per profile with a boolean column per segment (`s0`,
 * `s1`, ... in the given order), sharing the profile scan and the event pre-aggregation.
 */
export function compileSegmentsToSql(
  segments: readonly { id: string; ast: SegmentAst }[],
  options: CompileSqlOptions,
): CompiledSql & { columns: string[] } {
  const params = new SqlParams();
  const aggregation: EventAggregation = { columns: [], filters: [] };
  const columns = segments.map((_, i) => `s${i}`);
  const selects = segments.map((segment, i) => {
    const ctx = context(options, params, aggregation, segment.ast, segment.id);
    return `COALESCE(${compileCondition(ctx, segment.ast.condition)}, FALSE) AS ${columns[i]}`;
  });
  const from = fromClause(options, params, aggregation);
  const where = from.where.length ? ` WHERE ${from.where.join(" AND ")}` : "";
  return {
    sql: `${from.with}SELECT ${PROFILE}._id, ${selects.join(", ")} FROM ${from.from}${where}`,
    params: params.values,
    columns,
  };
}

/** The ids of the profiles in a sample, whatever their attributes: the denominator of an estimate. */
export function compileSampleToSql(
  options: Pick<CompileSqlOptions, "dialect"> & { sample: { buckets: number; of: number } },
): CompiledSql {
  const params = new SqlParams();
  const sampled = inSample(options.dialect, params, options.sample);
  return {
    sql: `SELECT ${PROFILE}._id FROM {profiles} AS ${PROFILE} WHERE ${sampled(`${PROFILE}._id`)}`,
    params: params.values,
  };
}
