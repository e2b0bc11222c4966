import type { Condition } from "../ast.ts";
import { durationMs } from "../ast.ts";
import type { SqlContext } from "./context.ts";
import { selectorSql } from "./events.ts";

/**
 * `A then B [then not C] within d`: some chain of the profile's events, each strictly after the
 * previous and all within d of the first; a final `then not` step must have no event after the
 * last positive step up to the end of the span.
 */
export function sequenceSql(ctx: SqlContext, condition: Extract<Condition, { kind: "sequence" }>): string {
  const last = condition.steps[condition.steps.length - 1];
  const lastNegated = last?.negated === true;
  const positive = lastNegated ? condition.steps.slice(0, -1) : condition.steps;
  const aliases = positive.map(() => ctx.alias("s"));
  const first = aliases[0] ?? "s";
  const span = condition.within
    ? ctx.params.add(`${durationMs(condition.within) / 1000} seconds`, "INTERVAL")
    : undefined;
  const end = span ? `${first}._ts + ${span}` : undefined;
  const joins = positive.slice(1).map((step, i) => {
    const alias = aliases[i + 1] ?? "s";
    const previous = aliases[i] ?? "s";
    const within = end ? ` AND ${alias}._ts <= ${end}` : "";
    return `JOIN {events} AS ${alias} ON ${alias}._profile_id = ${first}._profile_id AND ${alias}._ts > ${previous}._ts${within} AND ${selectorSql(ctx, step.event, alias)}`;
  });
  const where = [
    `${first}._profile_id = ${ctx.scope.alias}._id`,
    selectorSql(ctx, positive[0]?.event ?? { type: "" }, first),
  ];
  if (lastNegated && last) {
    const alias = ctx.alias("n");
    const lastPositive = aliases[aliases.length - 1] ?? first;
    const within = end ? ` AND ${alias}._ts <= ${end}` : "";
    where.push(
      `NOT EXISTS (SELECT 1 FROM {events} AS ${alias} WHERE ${alias}._profile_id = ${first}._profile_id AND ${alias}._ts > ${lastPositive}._ts${within} AND ${selectorSql(ctx, last.event, alias)})`,
    );
  }
  return `EXISTS (SELECT 1 FROM {events} AS ${first} ${joins.join(" ")} WHERE ${where.join(" AND ")})`;
}
