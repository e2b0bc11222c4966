import type { FieldType } from "../../schema/index.ts";
import type { EventSelector, Operand } from "../ast.ts";
import { compileCondition } from "./condition.ts";
import { column, type SqlContext } from "./context.ts";
import { windowSql } from "./range.ts";

/**
 * The condition an event row `alias` must meet to belong to a selector: its type, its `where`
 * (compiled in the event's scope, starting outside any `not`) and its window.
 */
export function selectorSql(ctx: SqlContext, selector: EventSelector, alias: string): string {
  const parts = [`${alias}._type = ${ctx.params.add(selector.type, "TEXT")}`];
  if (selector.where) {
    const inner: SqlContext = { ...ctx, negated: false, scope: { kind: "event", alias } };
    parts.push(compileCondition(inner, selector.where));
  }
  if (selector.window) parts.push(windowSql(ctx, `${alias}._ts`, selector.window, "timestamp"));
  return parts.join(" AND ");
}

/** Alias of the pre-aggregation's rows and of the event table inside it. */
export const AGGREGATE_ALIAS = "herald_agg";
export const AGGREGATED_EVENT = "e";

/** Adds a column to the per-profile pre-aggregation and returns how the outer query reads it. */
function aggregateColumn(
  ctx: SqlContext,
  selector: EventSelector,
  expression: (filter: string) => string,
): string {
  const name = `a${ctx.aggregation.columns.length}`;
  const filter = selectorSql(ctx, selector, AGGREGATED_EVENT);
  ctx.aggregation.filters.push(`(${filter})`);
  ctx.aggregation.columns.push(`${expression(filter)} AS ${name}`);
  return `${AGGREGATE_ALIAS}.${name}`;
}

/**
 * count/sum/avg/min/max over a profile's events, read from one shared GROUP BY over the events
 * table: every event condition of every segment in a query costs one scan, not one each.
 * No events: count and sum are 0, avg/min/max have no value (so any comparison with them is false).
 */
export function aggregateSql(
  ctx: SqlContext,
  operand: Extract<Operand, { kind: "aggregate" }>,
): { sql: string; type: FieldType } {
  const { fn, property } = operand;
  if (fn === "count" || !property) {
    const read = aggregateColumn(ctx, operand.event, (filter) => `count(*) FILTER (WHERE ${filter})`);
    return { sql: `COALESCE(${read}, 0)`, type: "integer" };
  }
  const value = column(ctx, AGGREGATED_EVENT, property);
  const read = aggregateColumn(ctx, operand.event, (filter) => `${fn}(${value}) FILTER (WHERE ${filter})`);
  return { sql: fn === "sum" ? `COALESCE(${read}, 0)` : read, type: "number" };
}

/** Whether a profile has at least one event of a selector. */
export function eventExistsSql(ctx: SqlContext, selector: EventSelector): string {
  const read = aggregateColumn(ctx, selector, (filter) => `count(*) FILTER (WHERE ${filter})`);
  return `COALESCE(${read}, 0) > 0`;
}

/** Alias of the event table inside each latest(...) relation. */
export const LATEST_EVENT = "l";

/**
 * The property of the profile's most recent event of a selector (ties: the greatest event id),
 * read from a per-profile relation (DISTINCT ON, one sort of the matching events) joined to the
 * profiles, rather than one ordered lookup per profile.
 */
export function latestSql(ctx: SqlContext, operand: Extract<Operand, { kind: "latest" }>): string {
  const name = `herald_latest${ctx.aggregation.latest.length}`;
  ctx.aggregation.latest.push({
    name,
    value: column(ctx, LATEST_EVENT, operand.property),
    filter: selectorSql(ctx, operand.event, LATEST_EVENT),
  });
  return `${name}.value`;
}
