import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Dialect } from "../../store/index.ts";
import type { SegmentAst } from "../ast.ts";
import { noSegments, type SegmentResolver } from "../references.ts";
import { clockAt } from "../time.ts";
import { compileCondition } from "./condition.ts";
import type { EventAggregation, SqlContext } from "./context.ts";
import { AGGREGATE_ALIAS, AGGREGATED_EVENT, LATEST_EVENT } from "./events.ts";
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
  const sampled = sample ? inSample(dialect, params, sample) : undefined;
  if (sampled) where.push(sampled(`${PROFILE}._id`));
  const relations: string[] = [];
  const joins: string[] = [];
  if (aggregation.columns.length) {
    // Only events some aggregate counts: lets the engine prune by type and time before grouping.
    const eventWhere = [`(${aggregation.filters.join(" OR ")})`];
    if (sampled) eventWhere.push(sampled(`${AGGREGATED_EVENT}._profile_id`));
    relations.push(`${AGGREGATE_ALIAS} AS (SELECT ${AGGREGATED_EVENT}._profile_id AS profile_id, ${aggregation.columns.join(", ")}
      FROM {events} AS ${AGGREGATED_EVENT} WHERE ${eventWhere.join(" AND ")} GROUP BY ${AGGREGATED_EVENT}._profile_id)`);
    joins.push(`LEFT JOIN ${AGGREGATE_ALIAS} ON ${AGGREGATE_ALIAS}.profile_id = ${PROFILE}._id`);
  }
  // Event ids order by bytes on both engines, as the evaluator compares them.
  const id = dialect.engine === "postgres" ? `${LATEST_EVENT}._id COLLATE "C"` : `${LATEST_EVENT}._id`;
  for (const latest of aggregation.latest) {
    const eventWhere = [latest.filter];
    if (sampled) eventWhere.push(sampled(`${LATEST_EVENT}._profile_id`));
    relations.push(`${latest.name} AS (SELECT DISTINCT ON (${LATEST_EVENT}._profile_id) ${LATEST_EVENT}._profile_id AS profile_id, ${latest.value} AS value
      FROM {events} AS ${LATEST_EVENT} WHERE ${eventWhere.join(" AND ")}
      ORDER BY ${LATEST_EVENT}._profile_id, ${LATEST_EVENT}._ts DESC, ${id} DESC)`);
    joins.push(`LEFT JOIN ${latest.name} ON ${latest.name}.profile_id = ${PROFILE}._id`);
  }
  return {
    with: relations.length ? `WITH ${relations.join(", ")} ` : "",
    from: [`{profiles} AS ${PROFILE}`, ...joins].join(" "),
    where,
  };
}

/**
 * A segment as one SELECT of the `_id` of qualifying profiles, for `store.query(sandbox, ...)`:
 * profile conditions on `{profiles}`, event conditions through a per-profile pre-aggregation of
 * `{events}`, latest values through one DISTINCT ON relation each, sequences as correlated
 * EXISTS subqueries. Values are parameters.
 */
export function compileSegmentToSql(
  ast: SegmentAst,
  options: CompileSqlOptions & { segmentId?: string },
): CompiledSql {
  const params = new SqlParams();
  const aggregation: EventAggregation = { columns: [], filters: [], latest: [] };
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
  const aggregation: EventAggregation = { columns: [], filters: [], latest: [] };
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
