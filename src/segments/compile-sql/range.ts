import type { Window } from "../ast.ts";
import { dateRange, type Range, timestampRange } from "../time.ts";
import type { SqlContext } from "./context.ts";

/** `expr` within a window's bounds, resolved against the context's clock. */
export function windowSql(ctx: SqlContext, expr: string, window: Window, type: "date" | "timestamp"): string {
  if (type === "date") return rangeSql(ctx, expr, dateRange(window, ctx.clock), "DATE", (v) => v);
  return rangeSql(ctx, expr, timestampRange(window, ctx.clock), "TIMESTAMPTZ", (v) =>
    new Date(v).toISOString(),
  );
}

/** `expr` (a timestamp) within bounds given as instants. */
export function instantRangeSql(ctx: SqlContext, expr: string, range: Range<number>): string {
  return rangeSql(ctx, expr, range, "TIMESTAMPTZ", (v) => new Date(v).toISOString());
}

function rangeSql<T>(
  ctx: SqlContext,
  expr: string,
  range: Range<T>,
  type: "DATE" | "TIMESTAMPTZ",
  text: (value: T) => string,
): string {
  const parts: string[] = [];
  if (range.lower)
    parts.push(
      `${expr} ${range.lower.inclusive ? ">=" : ">"} ${ctx.params.add(text(range.lower.value), type)}`,
    );
  if (range.upper)
    parts.push(
      `${expr} ${range.upper.inclusive ? "<=" : "<"} ${ctx.params.add(text(range.upper.value), type)}`,
    );
  return parts.length ? parts.join(" AND ") : "TRUE";
}
