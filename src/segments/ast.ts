import { z } from "zod";
import { unsharedRegexConstruct } from "./regex.ts";

/**
 * The segment AST: one zod schema, from which the TypeScript types, API validation and the UI
 * builder's forms come. The text language (parse.ts / print.ts) is a notation for exactly this.
 */

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export const literalSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("string"), value: z.string().max(10_000) }),
  z.object({ type: z.literal("number"), value: z.number().finite() }),
  z.object({ type: z.literal("boolean"), value: z.boolean() }),
  z.object({ type: z.literal("date"), value: z.string().regex(DATE, "must be YYYY-MM-DD") }),
  z.object({ type: z.literal("timestamp"), value: z.iso.datetime({ offset: false }) }),
]);
export type Literal = z.infer<typeof literalSchema>;

export const DURATION_UNITS = ["minutes", "hours", "days", "weeks"] as const;
export const durationSchema = z.object({
  amount: z.number().int().min(0).max(100_000),
  unit: z.enum(DURATION_UNITS),
});
export type Duration = z.infer<typeof durationSchema>;

/** A moment a window starts or ends at: a date or timestamp literal, or the evaluation's today/now. */
export const timePointSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("date"), value: z.string().regex(DATE, "must be YYYY-MM-DD") }),
  z.object({ type: z.literal("timestamp"), value: z.iso.datetime({ offset: false }) }),
  z.object({ type: z.literal("today") }),
  z.object({ type: z.literal("now") }),
]);
export type TimePoint = z.infer<typeof timePointSchema>;

export const CALENDAR_PERIODS = ["today", "yesterday", "thisMonth", "lastMonth", "thisYear"] as const;
export type CalendarPeriod = (typeof CALENDAR_PERIODS)[number];

/** A span of time relative to the evaluation's `now`, in the segment's time zone. */
export const windowSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("last"), duration: durationSchema }),
  z.object({ kind: z.literal("next"), duration: durationSchema }),
  z.object({ kind: z.literal("before"), at: timePointSchema }),
  z.object({ kind: z.literal("after"), at: timePointSchema }),
  z.object({ kind: z.literal("calendar"), period: z.enum(CALENDAR_PERIODS) }),
]);
export type Window = z.infer<typeof windowSchema>;

const pathSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$/, "must be a dotted field path");
const eventTypeSchema = pathSchema;

export const COMPARISON_OPS = ["=", "!=", "<", "<=", ">", ">="] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];
export const TEXT_OPS = ["contains", "startsWith", "endsWith"] as const;
export type TextOp = (typeof TEXT_OPS)[number];
export const AGGREGATE_FNS = ["count", "sum", "avg", "min", "max"] as const;
export type AggregateFn = (typeof AGGREGATE_FNS)[number];

/** Schemas are recursive (conditions contain event selectors that contain conditions). */
export type EventSelector = { type: string; where?: Condition; window?: Window };

export type Operand =
  | { kind: "field"; path: string }
  | { kind: "age"; path: string }
  | { kind: "aggregate"; fn: AggregateFn; event: EventSelector; property?: string }
  | { kind: "latest"; event: EventSelector; property: string };

export type SequenceStep = { event: EventSelector; negated: boolean };

export type Condition =
  | { kind: "and"; conditions: Condition[] }
  | { kind: "or"; conditions: Condition[] }
  | { kind: "not"; condition: Condition }
  | { kind: "compare"; operand: Operand; op: ComparisonOp; value: Literal; ignoreCase?: boolean }
  | { kind: "in"; operand: Operand; values: Literal[]; negated: boolean; ignoreCase?: boolean }
  | { kind: "text"; operand: Operand; op: TextOp; value: string; ignoreCase?: boolean }
  | { kind: "matches"; operand: Operand; pattern: string; ignoreCase?: boolean }
  | { kind: "between"; operand: Operand; low: Literal; high: Literal }
  | { kind: "exists"; operand: Operand }
  | { kind: "isNull"; operand: Operand }
  | { kind: "inWindow"; operand: Operand; window: Window }
  | { kind: "birthday"; path: string; days: number }
  | { kind: "eventExists"; event: EventSelector }
  | { kind: "sequence"; steps: SequenceStep[]; within?: Duration }
  | { kind: "inSegment"; segment: string };

export const eventSelectorSchema: z.ZodType<EventSelector> = z.lazy(() =>
  z.object({
    type: eventTypeSchema,
    where: conditionSchema.optional(),
    window: windowSchema.optional(),
  }),
);

export const operandSchema: z.ZodType<Operand> = z.lazy(() =>
  z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("field"), path: pathSchema }),
    z.object({ kind: z.literal("age"), path: pathSchema }),
    z.object({
      kind: z.literal("aggregate"),
      fn: z.enum(AGGREGATE_FNS),
      event: eventSelectorSchema,
      property: pathSchema.optional(),
    }),
    z.object({ kind: z.literal("latest"), event: eventSelectorSchema, property: pathSchema }),
  ]),
);

const ignoreCase = z.boolean().optional();

export const conditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("and"), conditions: z.array(conditionSchema).min(2) }),
    z.object({ kind: z.literal("or"), conditions: z.array(conditionSchema).min(2) }),
    z.object({ kind: z.literal("not"), condition: conditionSchema }),
    z.object({
      kind: z.literal("compare"),
      operand: operandSchema,
      op: z.enum(COMPARISON_OPS),
      value: literalSchema,
      ignoreCase,
    }),
    z.object({
      kind: z.literal("in"),
      operand: operandSchema,
      values: z.array(literalSchema).min(1).max(1000),
      negated: z.boolean(),
      ignoreCase,
    }),
    z.object({
      kind: z.literal("text"),
      operand: operandSchema,
      op: z.enum(TEXT_OPS),
      value: z.string().max(10_000),
      ignoreCase,
    }),
    z.object({
      kind: z.literal("matches"),
      operand: operandSchema,
      pattern: z
        .string()
        .max(1000)
        .superRefine((pattern, ctx) => {
          const construct = unsharedRegexConstruct(pattern);
          if (construct) {
            ctx.addIssue({
              code: "custom",
              message: `${construct}: DuckDB's regular expressions (RE2) do not support it; keep to anchors, classes, ., *, +, ?, {n,m}, plain groups and alternation`,
            });
          }
        }),
      ignoreCase,
    }),
    z.object({ kind: z.literal("between"), operand: operandSchema, low: literalSchema, high: literalSchema }),
    z.object({ kind: z.literal("exists"), operand: operandSchema }),
    z.object({ kind: z.literal("isNull"), operand: operandSchema }),
    z.object({ kind: z.literal("inWindow"), operand: operandSchema, window: windowSchema }),
    z.object({ kind: z.literal("birthday"), path: pathSchema, days: z.number().int().min(0).max(366) }),
    z.object({ kind: z.literal("eventExists"), event: eventSelectorSchema }),
    z.object({
      kind: z.literal("sequence"),
      steps: z
        .array(z.object({ event: eventSelectorSchema, negated: z.boolean() }))
        .min(2)
        .max(8),
      within: durationSchema.optional(),
    }),
    z.object({ kind: z.literal("inSegment"), segment: z.string().min(1).max(100) }),
  ]),
);

/** A whole segment definition: the condition and the time zone its calendar windows use. */
export const segmentAstSchema = z.object({
  version: z.literal(1),
  timezone: z.string().min(1).max(64).optional(),
  condition: conditionSchema,
});
export type SegmentAst = z.infer<typeof segmentAstSchema>;

export function durationMs(d: Duration): number {
  const unit = { minutes: 60_000, hours: 3_600_000, days: 86_400_000, weeks: 604_800_000 }[d.unit];
  return d.amount * unit;
}
