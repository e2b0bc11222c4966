import type { ComparisonOp } from "../ast.ts";
import { dateParts, dateText } from "../time.ts";
import { column, type SqlContext } from "./context.ts";

/**
 * `age(birth) <op> n` as a range on the birth date itself, so the engine filters the column
 * directly (and can skip blocks by their min/max) instead of computing every profile's age.
 * Returns undefined when the generic age expression should be used instead.
 */
export function ageComparisonSql(
  ctx: SqlContext,
  path: string,
  op: ComparisonOp,
  n: number,
): string | undefined {
  const birth = column(ctx, ctx.scope.alias, path);
  // Ages are whole years: `>= 25.5` is `>= 26`, `> 25.5` is `>= 26`.
  const atLeast = (years: number) => `${birth} <= ${latestBirth(ctx, years)}`;
  const under = (years: number) => `${birth} > ${latestBirth(ctx, years)}`;
  if (!Number.isFinite(n) || Math.abs(n) > 200) return undefined;
  switch (op) {
    case ">=":
      return atLeast(Math.ceil(n));
    case ">":
      return atLeast(Math.floor(n) + 1);
    case "<":
      return under(Math.ceil(n));
    case "<=":
      return under(Math.floor(n) + 1);
    case "=":
      return Number.isInteger(n) ? `${atLeast(n)} AND ${under(n + 1)}` : "FALSE";
    case "!=":
      return Number.isInteger(n) ? `(${under(n)} OR ${atLeast(n + 1)})` : `${birth} IS NOT NULL`;
  }
}

export function ageBetweenSql(ctx: SqlContext, path: string, low: number, high: number): string | undefined {
  if (!Number.isFinite(low) || !Number.isFinite(high) || Math.abs(low) > 200 || Math.abs(high) > 200)
    return undefined;
  const birth = column(ctx, ctx.scope.alias, path);
  return `${birth} <= ${latestBirth(ctx, Math.ceil(low))} AND ${birth} > ${latestBirth(ctx, Math.floor(high) + 1)}`;
}

/**
 * The latest birth date of someone at least `years` old on the segment's today: the same month
 * and day `years` earlier (a Feb 29 today in a common year of birth: Feb 28, since a Feb 29
 * birthday is only reached on Mar 1 — the evaluator's rule).
 */
function latestBirth(ctx: SqlContext, years: number): string {
  const [y, m, d] = dateParts(ctx.clock.today);
  const year = y - years;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const day = m === 2 && d === 29 && !leap ? 28 : d;
  return ctx.params.add(dateText(year, m, day), "DATE");
}
