import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Dialect } from "../../store/index.ts";
import type { SegmentResolver } from "../references.ts";
import type { Clock } from "../time.ts";
import type { SqlParams } from "./params.ts";

/** Columns of the per-profile event pre-aggregation, shared by every condition of a query. */
export interface EventAggregation {
  columns: string[];
  /** Each column's event condition; an event matching none is not read. */
  filters: string[];
  /** One "latest event" relation per latest(...): its name, value column and event condition. */
  latest: { name: string; value: string; filter: string }[];
}

export interface SqlContext {
  dialect: Dialect;
  schema: SchemaSnapshot;
  params: SqlParams;
  clock: Clock;
  resolve: SegmentResolver;
  /** Segments being expanded (inSegment), to refuse cycles. */
  stack: readonly string[];
  /**
   * Under an odd number of `not`: a leaf that SQL would make NULL (a missing value) must read as
   * FALSE, so that `not city = "Paris"` matches profiles without a city, as the evaluator does.
   */
  negated: boolean;
  /** Table alias the fields of this scope come from: the profile, or one event. */
  scope: { kind: "profile"; alias: string } | { kind: "event"; alias: string };
  aggregation: EventAggregation;
  /** Fresh table aliases for correlated subqueries. */
  alias(prefix: string): string;
}

/** A leaf condition, made two-valued when it sits under a `not`. */
export function leaf(ctx: SqlContext, sql: string): string {
  return ctx.negated ? `COALESCE((${sql}), FALSE)` : `(${sql})`;
}

export function column(ctx: SqlContext, alias: string, name: string): string {
  return `${alias}.${ctx.dialect.ident(name)}`;
}

/**
 * Lower case for case-insensitive comparison. PostgreSQL's lower() follows the database locale
 * (ASCII only under C); the ICU root collation lowers every letter, as DuckDB and JavaScript do.
 */
export function caseless(ctx: SqlContext, expr: string): string {
  return ctx.dialect.engine === "postgres" ? `lower(${expr} COLLATE "und-x-icu")` : `lower(${expr})`;
}
