import { assertNever } from "../../errors/index.ts";
import type { Condition } from "../ast.ts";
import { resolveReference } from "../references.ts";
import { clockAt } from "../time.ts";
import { leaf, type SqlContext } from "./context.ts";
import { eventExistsSql } from "./events.ts";
import { predicateSql } from "./predicates.ts";
import { sequenceSql } from "./sequence.ts";

/** The dispatcher: one case per condition kind, each compiled by the file that owns it. */
export function compileCondition(ctx: SqlContext, c: Condition): string {
  switch (c.kind) {
    case "and":
    case "or":
      return `(${c.conditions.map((child) => compileCondition(ctx, child)).join(c.kind === "and" ? " AND " : " OR ")})`;
    case "not":
      return `(NOT ${compileCondition({ ...ctx, negated: !ctx.negated }, c.condition)})`;
    case "compare":
    case "in":
    case "text":
    case "matches":
    case "between":
    case "exists":
    case "isNull":
    case "inWindow":
    case "birthday":
      return predicateSql(ctx, c);
    case "eventExists":
      return leaf(ctx, eventExistsSql(ctx, c.event));
    case "sequence":
      return `(${sequenceSql(ctx, c)})`;
    case "inSegment": {
      // A referenced segment is expanded in place, under its own time zone.
      const referenced = resolveReference(ctx.resolve, c.segment, ctx.stack);
      return compileCondition(
        {
          ...ctx,
          stack: [...ctx.stack, c.segment],
          clock: clockAt(ctx.clock.now, referenced.timezone ?? "UTC"),
        },
        referenced.condition,
      );
    }
    default:
      return assertNever(c, "condition");
  }
}
