import type { FieldType } from "../../schema/index.ts";
import type { Condition, Literal } from "../ast.ts";
import { betweenInstants, birthdayKeys, dayComparison, instantsOf } from "../time.ts";
import { ageBetweenSql, ageComparisonSql } from "./age.ts";
import { caseless, column, leaf, type SqlContext } from "./context.ts";
import { compileOperand, monthDay } from "./operand.ts";
import { sqlTypeOf } from "./params.ts";
import { instantRangeSql, windowSql } from "./range.ts";

/** A literal as a typed parameter for a value of `type` (dates against timestamps are day ranges, built by callers). */
export function literalSql(ctx: SqlContext, literal: Literal, type: FieldType): string {
  switch (literal.type) {
    case "date":
      return ctx.params.add(literal.value, "DATE");
    case "timestamp":
      return ctx.params.add(literal.value, "TIMESTAMPTZ");
    case "number":
      // A whole number against an integer column stays an integer: no per-row cast to double.
      return type === "integer" && Number.isSafeInteger(literal.value)
        ? ctx.params.add(literal.value, "BIGINT")
        : ctx.params.add(literal.value, sqlTypeOf(type));
    default:
      return ctx.params.add(literal.value, sqlTypeOf(type));
  }
}

/** LIKE pattern for a plain substring: %, _ and the escape character itself match literally. */
function likePattern(text: string, op: "contains" | "startsWith" | "endsWith"): string {
  const escaped = text.replace(/[\\%_]/g, (c) => `\\${c}`);
  return op === "contains" ? `%${escaped}%` : op === "startsWith" ? `${escaped}%` : `%${escaped}`;
}

type Leaf = Exclude<Condition, { kind: "and" | "or" | "not" | "inSegment" | "eventExists" | "sequence" }>;

export function predicateSql(ctx: SqlContext, c: Leaf): string {
  switch (c.kind) {
    case "compare": {
      if (c.operand.kind === "age" && c.value.type === "number") {
        const range = ageComparisonSql(ctx, c.operand.path, c.op, c.value.value);
        if (range) return leaf(ctx, range);
      }
      const operand = compileOperand(ctx, c.operand);
      if (operand.type === "timestamp" && c.value.type === "date") {
        const { range, negate } = dayComparison(c.op, c.value.value, ctx.clock.timezone);
        const within = instantRangeSql(ctx, operand.sql, range);
        return leaf(ctx, negate ? `NOT (${within})` : within);
      }
      const value = literalSql(ctx, c.value, operand.type);
      return leaf(
        ctx,
        c.ignoreCase
          ? `${caseless(ctx, operand.sql)} ${c.op} ${caseless(ctx, value)}`
          : `${operand.sql} ${c.op} ${value}`,
      );
    }
    case "in": {
      const operand = compileOperand(ctx, c.operand);
      if (operand.type === "timestamp") {
        const any = c.values.map(
          (v) => `(${instantRangeSql(ctx, operand.sql, instantsOf(v, ctx.clock.timezone))})`,
        );
        const within = any.join(" OR ");
        return leaf(ctx, c.negated ? `NOT (${within})` : within);
      }
      const values = c.values.map((v) => literalSql(ctx, v, operand.type));
      const list = c.ignoreCase ? values.map((v) => caseless(ctx, v)) : values;
      const expr = c.ignoreCase ? caseless(ctx, operand.sql) : operand.sql;
      return leaf(ctx, `${expr} ${c.negated ? "NOT IN" : "IN"} (${list.join(", ")})`);
    }
    case "text": {
      const operand = compileOperand(ctx, c.operand);
      if (operand.type === "string[]") {
        const value = ctx.params.add(c.value, "TEXT");
        return leaf(
          ctx,
          ctx.dialect.engine === "duckdb"
            ? `list_contains(${operand.sql}, ${value})`
            : `${value} = ANY(${operand.sql})`,
        );
      }
      const pattern = ctx.params.add(likePattern(c.value, c.op), "TEXT");
      return leaf(
        ctx,
        c.ignoreCase
          ? `${caseless(ctx, operand.sql)} LIKE ${caseless(ctx, pattern)} ESCAPE '\\'`
          : `${operand.sql} LIKE ${pattern} ESCAPE '\\'`,
      );
    }
    case "matches": {
      const operand = compileOperand(ctx, c.operand);
      // Case-insensitive matching on PostgreSQL needs a collation that knows non-ASCII letters.
      const subject =
        c.ignoreCase && ctx.dialect.engine === "postgres"
          ? `(${operand.sql} COLLATE "und-x-icu")`
          : operand.sql;
      return leaf(
        ctx,
        ctx.dialect.regexMatch(subject, ctx.params.add(c.pattern, "TEXT"), c.ignoreCase === true),
      );
    }
    case "between": {
      if (c.operand.kind === "age" && c.low.type === "number" && c.high.type === "number") {
        const range = ageBetweenSql(ctx, c.operand.path, c.low.value, c.high.value);
        if (range) return leaf(ctx, range);
      }
      const operand = compileOperand(ctx, c.operand);
      if (operand.type === "timestamp") {
        return leaf(
          ctx,
          instantRangeSql(ctx, operand.sql, betweenInstants(c.low, c.high, ctx.clock.timezone)),
        );
      }
      const low = literalSql(ctx, c.low, operand.type);
      const high = literalSql(ctx, c.high, operand.type);
      return leaf(ctx, `${operand.sql} BETWEEN ${low} AND ${high}`);
    }
    case "exists":
      return `(${compileOperand(ctx, c.operand).sql} IS NOT NULL)`;
    case "isNull":
      return `(${compileOperand(ctx, c.operand).sql} IS NULL)`;
    case "inWindow": {
      const operand = compileOperand(ctx, c.operand);
      return leaf(ctx, windowSql(ctx, operand.sql, c.window, operand.type === "date" ? "date" : "timestamp"));
    }
    case "birthday": {
      const birth = column(ctx, ctx.scope.alias, c.path);
      const keys = ctx.params.raw(birthdayKeys(ctx.clock.today, c.days));
      return leaf(ctx, ctx.dialect.inTextList(monthDay(ctx, birth), keys));
    }
  }
}
