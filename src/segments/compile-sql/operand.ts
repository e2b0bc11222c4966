import { assertNever } from "../../errors/index.ts";
import type { FieldType } from "../../schema/index.ts";
import type { Operand } from "../ast.ts";
import { dateParts } from "../time.ts";
import { column, type SqlContext } from "./context.ts";
import { aggregateSql, latestSql } from "./events.ts";

export interface SqlOperand {
  sql: string;
  type: FieldType;
}

function fieldType(ctx: SqlContext, path: string, event: boolean): FieldType {
  const field = (event ? ctx.schema.eventFields : ctx.schema.profileFields).get(path);
  if (!field) throw new Error(`Unchecked segment: unknown field ${path}`);
  return field.type;
}

/** `MM-DD` of a date expression, for birthdays and ages. */
export function monthDay(ctx: SqlContext, expr: string): string {
  return ctx.dialect.engine === "duckdb" ? `strftime(${expr}, '%m-%d')` : `to_char(${expr}, 'MM-DD')`;
}

export function compileOperand(ctx: SqlContext, operand: Operand): SqlOperand {
  switch (operand.kind) {
    case "field": {
      const event = ctx.scope.kind === "event";
      return { sql: column(ctx, ctx.scope.alias, operand.path), type: fieldType(ctx, operand.path, event) };
    }
    case "age": {
      // Whole years on the segment's local date; a birthday not yet reached this year takes one off.
      const birth = column(ctx, ctx.scope.alias, operand.path);
      const [year] = dateParts(ctx.clock.today);
      const y = ctx.params.add(year, "DOUBLE PRECISION");
      const md = ctx.params.add(ctx.clock.today.slice(5), "TEXT");
      return {
        sql: `(${y} - EXTRACT(YEAR FROM ${birth}) - CASE WHEN ${monthDay(ctx, birth)} > ${md} THEN 1 ELSE 0 END)`,
        type: "integer",
      };
    }
    case "aggregate":
      return aggregateSql(ctx, operand);
    case "latest":
      return { sql: latestSql(ctx, operand), type: fieldType(ctx, operand.property, true) };
    default:
      return assertNever(operand, "operand");
  }
}
