import { assertNever } from "../errors/index.ts";
import type { FieldType, SchemaSnapshot } from "../schema/index.ts";
import {
  type AggregateFn,
  type ComparisonOp,
  type Condition,
  durationMs,
  type EventSelector,
  type Literal,
  type Operand,
  type SegmentAst,
  type Window,
} from "./ast.ts";
import { noSegments, resolveReference, type SegmentResolver } from "./references.ts";
import {
  ageOn,
  betweenInstants,
  birthdayKeys,
  type Clock,
  clockAt,
  dateRange,
  dayComparison,
  instantsOf,
  type Range,
  timestampRange,
} from "./time.ts";

/** One event as the streaming path sees it. `id` breaks ties between events at the same instant. */
export interface ProfileEvent {
  type: string;
  ts: Date | number | string;
  properties: Record<string, unknown>;
  id?: string;
}

/** A profile: values keyed by field path (`"person.birthDate"`), as stored. */
export type ProfileRecord = Record<string, unknown>;

export type SegmentEvaluator = (
  profile: ProfileRecord,
  events: readonly ProfileEvent[],
  now: Date | number,
) => boolean;

/**
 * Evaluation state of one call. Values are compared in normal forms: dates as YYYY-MM-DD text,
 * timestamps as epoch milliseconds, so a comparison is one JavaScript operator.
 */
interface Ctx {
  profile: ProfileRecord;
  events: readonly ProfileEvent[];
  event: ProfileEvent | undefined;
  now: number;
  /** One clock per time zone used (a referenced segment may name its own). */
  clocks: Map<string, Clock>;
}

type Pred = (ctx: Ctx) => boolean;
type Value = string | number | boolean | string[] | null;
type Getter = (ctx: Ctx) => Value;

function tsOf(ts: Date | number | string): number {
  return typeof ts === "number" ? ts : typeof ts === "string" ? Date.parse(ts) : ts.getTime();
}

/** Turns a stored or ingested value into the normal form of its type; anything unusable is null. */
function normalize(value: unknown, type: FieldType): Value {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "string":
      return typeof value === "string" ? value : null;
    case "integer":
    case "number":
      return typeof value === "number"
        ? Number.isFinite(value)
          ? value
          : null
        : typeof value === "bigint"
          ? Number(value)
          : null;
    case "boolean":
      return typeof value === "boolean" ? value : null;
    case "date":
      if (value instanceof Date)
        return Number.isNaN(value.getTime()) ? null : value.toISOString().slice(0, 10);
      return typeof value === "string" && value.length >= 10 ? value.slice(0, 10) : null;
    case "timestamp": {
      const ms =
        value instanceof Date || typeof value === "number" || typeof value === "string"
          ? tsOf(value)
          : Number.NaN;
      return Number.isNaN(ms) ? null : ms;
    }
    case "string[]":
      return Array.isArray(value) ? (value as string[]) : null;
    default:
      return assertNever(type, "field type");
  }
}

interface Compiler {
  schema: SchemaSnapshot;
  resolve: SegmentResolver;
  stack: string[];
  timezone: string;
}

function clockOf(ctx: Ctx, timezone: string): Clock {
  let clock = ctx.clocks.get(timezone);
  if (!clock) {
    clock = clockAt(ctx.now, timezone);
    ctx.clocks.set(timezone, clock);
  }
  return clock;
}

function inRange<T extends number | string>(value: T, range: Range<T>): boolean {
  const { lower, upper } = range;
  if (lower && (lower.inclusive ? value < lower.value : value <= lower.value)) return false;
  if (upper && (upper.inclusive ? value > upper.value : value >= upper.value)) return false;
  return true;
}

/** A window's bounds for the current clock, recomputed only when `now` changes. */
function windowTest(
  window: Window,
  type: "date" | "timestamp",
  timezone: string,
): (value: number | string, ctx: Ctx) => boolean {
  let cachedNow = Number.NaN;
  let range: Range<number | string> = {};
  return (value, ctx) => {
    if (ctx.now !== cachedNow) {
      const clock = clockOf(ctx, timezone);
      range = type === "date" ? dateRange(window, clock) : timestampRange(window, clock);
      cachedNow = ctx.now;
    }
    return inRange(value, range);
  };
}

/** A literal in its normal form (dates against timestamps are day ranges, handled by their callers). */
function literalValue(literal: Literal): Value {
  switch (literal.type) {
    case "string":
    case "number":
    case "boolean":
    case "date":
      return literal.value;
    case "timestamp":
      return Date.parse(literal.value);
    default:
      return assertNever(literal, "literal");
  }
}

function compareValues(
  op: ComparisonOp,
  a: string | number | boolean,
  b: string | number | boolean,
): boolean {
  switch (op) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
    default:
      return assertNever(op, "comparison");
  }
}

function fieldType(c: Compiler, path: string, event: boolean): FieldType {
  const field = (event ? c.schema.eventFields : c.schema.profileFields).get(path);
  if (!field) throw new Error(`Unchecked segment: unknown field ${path}`);
  return field.type;
}

/** The events of a selector, in input order. */
function eventFilter(c: Compiler, selector: EventSelector): (event: ProfileEvent, ctx: Ctx) => boolean {
  const where = selector.where ? compileCondition(c, selector.where, true) : undefined;
  const window = selector.window ? windowTest(selector.window, "timestamp", c.timezone) : undefined;
  const type = selector.type;
  return (event, ctx) => {
    if (event.type !== type) return false;
    if (window && !window(tsOf(event.ts), ctx)) return false;
    if (!where) return true;
    const outer = ctx.event;
    ctx.event = event;
    const ok = where(ctx);
    ctx.event = outer;
    return ok;
  };
}

function aggregate(fn: AggregateFn, values: number[], count: number): number | null {
  switch (fn) {
    case "count":
      return count;
    case "sum": {
      let sum = 0;
      for (const v of values) sum += v;
      return sum;
    }
    case "avg": {
      if (!values.length) return null;
      let sum = 0;
      for (const v of values) sum += v;
      return sum / values.length;
    }
    case "min":
      return values.length ? Math.min(...values) : null;
    case "max":
      return values.length ? Math.max(...values) : null;
    default:
      return assertNever(fn, "aggregate");
  }
}

/** An operand's getter and the type of what it yields. */
function compileOperand(c: Compiler, operand: Operand, inEvent: boolean): { get: Getter; type: FieldType } {
  switch (operand.kind) {
    case "field": {
      const type = fieldType(c, operand.path, inEvent);
      const path = operand.path;
      if (inEvent) return { type, get: (ctx) => normalize(ctx.event?.properties[path], type) };
      return { type, get: (ctx) => normalize(ctx.profile[path], type) };
    }
    case "age": {
      const path = operand.path;
      const timezone = c.timezone;
      return {
        type: "integer",
        get: (ctx) => {
          const birth = normalize(ctx.profile[path], "date");
          return typeof birth === "string" ? ageOn(birth, clockOf(ctx, timezone).today) : null;
        },
      };
    }
    case "aggregate": {
      const matches = eventFilter(c, operand.event);
      const fn = operand.fn;
      const property = operand.property;
      if (fn === "count" || !property) {
        return {
          type: "integer",
          get: (ctx) => {
            let n = 0;
            for (const e of ctx.events) if (matches(e, ctx)) n++;
            return n;
          },
        };
      }
      const type = fieldType(c, property, true);
      return {
        type: "number",
        get: (ctx) => {
          const values: number[] = [];
          let n = 0;
          for (const e of ctx.events) {
            if (!matches(e, ctx)) continue;
            n++;
            const v = normalize(e.properties[property], type);
            if (typeof v === "number") values.push(v);
          }
          return aggregate(fn, values, n);
        },
      };
    }
    case "latest": {
      const matches = eventFilter(c, operand.event);
      const property = operand.property;
      const type = fieldType(c, property, true);
      return {
        type,
        get: (ctx) => {
          let best: ProfileEvent | undefined;
          let bestTs = Number.NEGATIVE_INFINITY;
          for (const e of ctx.events) {
            if (!matches(e, ctx)) continue;
            const ts = tsOf(e.ts);
            if (ts > bestTs || (ts === bestTs && (e.id ?? "") > (best?.id ?? ""))) {
              best = e;
              bestTs = ts;
            }
          }
          return best ? normalize(best.properties[property], type) : null;
        },
      };
    }
    default:
      return assertNever(operand, "operand");
  }
}

const lower = (v: Value) => (typeof v === "string" ? v.toLowerCase() : v);

function compileSequence(c: Compiler, condition: Extract<Condition, { kind: "sequence" }>): Pred {
  const steps = condition.steps.map((s) => ({ matches: eventFilter(c, s.event), negated: s.negated }));
  const span = condition.within ? durationMs(condition.within) : Number.POSITIVE_INFINITY;
  const lastNegated = steps[steps.length - 1]?.negated === true;
  const positiveCount = lastNegated ? steps.length - 1 : steps.length;
  return (ctx) => {
    const byStep: number[][] = steps.map((step) => {
      const times: number[] = [];
      for (const e of ctx.events) if (step.matches(e, ctx)) times.push(tsOf(e.ts));
      return times.sort((a, b) => a - b);
    });
    const excludedTimes = lastNegated ? (byStep[steps.length - 1] ?? []) : [];
    for (const start of byStep[0] ?? []) {
      const end = start + span;
      let previous: number | undefined = start;
      for (let i = 1; i < positiveCount && previous !== undefined; i++) {
        const after: number = previous;
        const candidates = (byStep[i] ?? []).filter((t) => t > after && t <= end);
        // Earliest match for a middle step leaves the most room for the next one; before a
        // negated step, the latest match leaves the least time for the excluded event.
        previous = i === positiveCount - 1 && lastNegated ? candidates[candidates.length - 1] : candidates[0];
      }
      if (previous === undefined) continue;
      if (!lastNegated) return true;
      const from = previous;
      if (!excludedTimes.some((t) => t > from && t <= end)) return true;
    }
    return false;
  };
}

function compileCondition(c: Compiler, condition: Condition, inEvent: boolean): Pred {
  switch (condition.kind) {
    case "and": {
      const parts = condition.conditions.map((p) => compileCondition(c, p, inEvent));
      return (ctx) => {
        for (const p of parts) if (!p(ctx)) return false;
        return true;
      };
    }
    case "or": {
      const parts = condition.conditions.map((p) => compileCondition(c, p, inEvent));
      return (ctx) => {
        for (const p of parts) if (p(ctx)) return true;
        return false;
      };
    }
    case "not": {
      const inner = compileCondition(c, condition.condition, inEvent);
      return (ctx) => !inner(ctx);
    }
    case "compare": {
      const { get, type } = compileOperand(c, condition.operand, inEvent);
      const op = condition.op;
      if (type === "timestamp" && condition.value.type === "date") {
        const { range, negate } = dayComparison(op, condition.value.value, c.timezone);
        return (ctx) => {
          const v = get(ctx);
          return typeof v === "number" && inRange(v, range) !== negate;
        };
      }
      if (condition.ignoreCase) {
        const value = lower(literalValue(condition.value));
        return (ctx) => {
          const v = lower(get(ctx));
          return (
            v !== null &&
            value !== null &&
            !Array.isArray(v) &&
            !Array.isArray(value) &&
            compareValues(op, v, value)
          );
        };
      }
      const value = literalValue(condition.value);
      if (value === null || Array.isArray(value)) return () => false;
      return (ctx) => {
        const v = get(ctx);
        return v !== null && !Array.isArray(v) && compareValues(op, v, value);
      };
    }
    case "in": {
      const { get, type } = compileOperand(c, condition.operand, inEvent);
      if (type === "timestamp") {
        const ranges = condition.values.map((l) => instantsOf(l, c.timezone));
        const negated = condition.negated;
        return (ctx) => {
          const v = get(ctx);
          return typeof v === "number" && ranges.some((r) => inRange(v, r)) !== negated;
        };
      }
      const ic = condition.ignoreCase === true;
      const values = new Set(condition.values.map((l) => (ic ? lower : (v: Value) => v)(literalValue(l))));
      const negated = condition.negated;
      return (ctx) => {
        const v = get(ctx);
        if (v === null) return false;
        return values.has(ic ? lower(v) : v) !== negated;
      };
    }
    case "text": {
      const { get } = compileOperand(c, condition.operand, inEvent);
      const ic = condition.ignoreCase === true;
      const needle = ic ? condition.value.toLowerCase() : condition.value;
      const test =
        condition.op === "contains"
          ? (s: string) => s.includes(needle)
          : condition.op === "startsWith"
            ? (s: string) => s.startsWith(needle)
            : (s: string) => s.endsWith(needle);
      return (ctx) => {
        const v = get(ctx);
        if (Array.isArray(v)) return v.includes(condition.value);
        return typeof v === "string" && test(ic ? v.toLowerCase() : v);
      };
    }
    case "matches": {
      const { get } = compileOperand(c, condition.operand, inEvent);
      const regex = new RegExp(condition.pattern, condition.ignoreCase ? "i" : "");
      return (ctx) => {
        const v = get(ctx);
        return typeof v === "string" && regex.test(v);
      };
    }
    case "between": {
      const { get, type } = compileOperand(c, condition.operand, inEvent);
      if (type === "timestamp") {
        const range = betweenInstants(condition.low, condition.high, c.timezone);
        return (ctx) => {
          const v = get(ctx);
          return typeof v === "number" && inRange(v, range);
        };
      }
      const low = literalValue(condition.low);
      const high = literalValue(condition.high);
      if (low === null || high === null || Array.isArray(low) || Array.isArray(high)) return () => false;
      return (ctx) => {
        const v = get(ctx);
        return v !== null && !Array.isArray(v) && v >= low && v <= high;
      };
    }
    case "exists": {
      const { get } = compileOperand(c, condition.operand, inEvent);
      return (ctx) => get(ctx) !== null;
    }
    case "isNull": {
      const { get } = compileOperand(c, condition.operand, inEvent);
      return (ctx) => get(ctx) === null;
    }
    case "inWindow": {
      const { get, type } = compileOperand(c, condition.operand, inEvent);
      const test = windowTest(condition.window, type === "date" ? "date" : "timestamp", c.timezone);
      return (ctx) => {
        const v = get(ctx);
        return (typeof v === "string" || typeof v === "number") && test(v, ctx);
      };
    }
    case "birthday": {
      const path = condition.path;
      const days = condition.days;
      const timezone = c.timezone;
      let cachedToday = "";
      let keys = new Set<string>();
      return (ctx) => {
        const birth = normalize(ctx.profile[path], "date");
        if (typeof birth !== "string") return false;
        const today = clockOf(ctx, timezone).today;
        if (today !== cachedToday) {
          keys = new Set(birthdayKeys(today, days));
          cachedToday = today;
        }
        return keys.has(birth.slice(5));
      };
    }
    case "eventExists": {
      const matches = eventFilter(c, condition.event);
      return (ctx) => {
        for (const e of ctx.events) if (matches(e, ctx)) return true;
        return false;
      };
    }
    case "sequence":
      return compileSequence(c, condition);
    case "inSegment": {
      const referenced = resolveReference(c.resolve, condition.segment, c.stack);
      const inner: Compiler = {
        ...c,
        stack: [...c.stack, condition.segment],
        timezone: referenced.timezone ?? "UTC",
      };
      return compileCondition(inner, referenced.condition, false);
    }
    default:
      return assertNever(condition, "condition");
  }
}

export interface EvaluatorOptions {
  /** Definitions of the segments inSegment(...) refers to. */
  resolve?: SegmentResolver;
  /** The id of the segment being compiled, so a reference back to it is reported as a cycle. */
  segmentId?: string;
}

/**
 * Compiles a (type-checked) segment into a function of one profile, its events and `now`: the
 * streaming path's evaluator, in agreement with the SQL the batch path runs.
 */
export function compileEvaluator(
  ast: SegmentAst,
  schema: SchemaSnapshot,
  options: EvaluatorOptions = {},
): SegmentEvaluator {
  const compiler: Compiler = {
    schema,
    resolve: options.resolve ?? noSegments,
    stack: options.segmentId ? [options.segmentId] : [],
    timezone: ast.timezone ?? "UTC",
  };
  const predicate = compileCondition(compiler, ast.condition, false);
  const ctx: Ctx = { profile: {}, events: [], event: undefined, now: 0, clocks: new Map() };
  return (profile, events, now) => {
    const ms = typeof now === "number" ? now : now.getTime();
    if (ms !== ctx.now) ctx.clocks.clear();
    ctx.profile = profile;
    ctx.events = events;
    ctx.event = undefined;
    ctx.now = ms;
    return predicate(ctx);
  };
}
