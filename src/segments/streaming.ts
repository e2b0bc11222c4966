import { assertNever } from "../errors/index.ts";
import {
  type Condition,
  type Duration,
  durationMs,
  type EventSelector,
  type Operand,
  type SegmentAst,
  type Window,
} from "./ast.ts";
import type { ProfileEvent } from "./evaluate.ts";
import { printWindow } from "./print.ts";
import { noSegments, type SegmentResolver } from "./references.ts";

export type StreamingEligibility = { eligible: true } | { eligible: false; reason: string };

export interface StreamingOptions {
  resolve?: SegmentResolver;
  /** How far back the streaming path keeps a profile's events (default 30 days). */
  maxLookback?: Duration;
  segmentId?: string;
}

const DAY = 86_400_000;

/** How far back a window reaches from now, or undefined when it has no bound. */
function lookback(window: Window | undefined): number | undefined {
  if (!window) return undefined;
  switch (window.kind) {
    case "last":
      return durationMs(window.duration);
    case "next":
      return 0;
    case "before":
    case "after":
      return undefined;
    case "calendar":
      return {
        today: DAY,
        yesterday: 2 * DAY,
        thisMonth: 31 * DAY,
        lastMonth: 62 * DAY,
        thisYear: 366 * DAY,
      }[window.period];
    default:
      return assertNever(window, "window");
  }
}

/**
 * Whether a segment can be evaluated on one profile as its events arrive: every event condition
 * must look back no further than the streaming path keeps events, and every referenced segment
 * must itself be streaming-eligible. Anything else is evaluated in batch.
 */
export function streamingEligibility(ast: SegmentAst, options: StreamingOptions = {}): StreamingEligibility {
  const max = durationMs(options.maxLookback ?? { amount: 30, unit: "days" });
  const resolve = options.resolve ?? noSegments;
  const stack = options.segmentId ? [options.segmentId] : [];

  const selector = (event: EventSelector, what: string): string | undefined => {
    const reach = lookback(event.window);
    if (reach === undefined) {
      const how = event.window
        ? `'${printWindow(event.window)}' has no bounded look-back`
        : "has no time window";
      return `${what} on ${event.type} ${how}; streaming keeps ${options.maxLookback ? `${options.maxLookback.amount} ${options.maxLookback.unit}` : "30 days"} of events`;
    }
    if (reach > max) return `${what} on ${event.type} looks back further than the streaming look-back`;
    return undefined;
  };
  const operand = (o: Operand): string | undefined => {
    switch (o.kind) {
      case "field":
      case "age":
        return undefined;
      case "aggregate":
        return selector(o.event, `${o.fn}(...)`);
      case "latest":
        return selector(o.event, "latest(...)");
      default:
        return assertNever(o, "operand");
    }
  };
  const visit = (c: Condition): string | undefined => {
    switch (c.kind) {
      case "and":
      case "or":
        for (const child of c.conditions) {
          const reason = visit(child);
          if (reason) return reason;
        }
        return undefined;
      case "not":
        return visit(c.condition);
      case "compare":
      case "in":
      case "text":
      case "matches":
      case "between":
      case "exists":
      case "isNull":
      case "inWindow":
        return operand(c.operand);
      case "birthday":
        return undefined;
      case "eventExists":
        return selector(c.event, "exists(...)");
      case "sequence":
        return "sequence(...) looks at a profile's whole event history";
      case "inSegment": {
        if (stack.includes(c.segment)) return `inSegment("${c.segment}") is part of a reference cycle`;
        const referenced = resolve(c.segment);
        if (!referenced) return `inSegment("${c.segment}") refers to an unknown segment`;
        stack.push(c.segment);
        const reason = visit(referenced.condition);
        stack.pop();
        return reason ? `inSegment("${c.segment}") refers to a batch-only segment: ${reason}` : undefined;
      }
      default:
        return assertNever(c, "condition");
    }
  };
  const reason = visit(ast.condition);
  return reason ? { eligible: false, reason } : { eligible: true };
}

/** Where a segment's result can depend on the time: its event selectors, and anything else. */
interface TimeUse {
  /** Every event selector (through references and where clauses); sequence steps read all history. */
  selectors: { event: EventSelector; wholeHistory: boolean }[];
  /** The clock is read outside event windows: ages, birthdays, windows over values. */
  otherClock: boolean;
}

function timeUse(ast: SegmentAst, options: StreamingOptions): TimeUse {
  const resolve = options.resolve ?? noSegments;
  const use: TimeUse = { selectors: [], otherClock: false };
  const expanded = new Set(options.segmentId ? [options.segmentId] : []);
  const selector = (event: EventSelector, wholeHistory: boolean) => {
    use.selectors.push({ event, wholeHistory });
    if (event.where) visit(event.where);
  };
  const operand = (o: Operand) => {
    switch (o.kind) {
      case "field":
        break;
      case "age":
        use.otherClock = true;
        break;
      case "aggregate":
      case "latest":
        selector(o.event, false);
        break;
      default:
        assertNever(o, "operand");
    }
  };
  const visit = (c: Condition): void => {
    switch (c.kind) {
      case "and":
      case "or":
        for (const child of c.conditions) visit(child);
        break;
      case "not":
        visit(c.condition);
        break;
      case "inWindow":
        use.otherClock = true;
        operand(c.operand);
        break;
      case "compare":
      case "in":
      case "text":
      case "matches":
      case "between":
      case "exists":
      case "isNull":
        operand(c.operand);
        break;
      case "birthday":
        use.otherClock = true;
        break;
      case "eventExists":
        selector(c.event, false);
        break;
      case "sequence":
        for (const step of c.steps) selector(step.event, true);
        break;
      case "inSegment": {
        if (expanded.has(c.segment)) break;
        expanded.add(c.segment);
        const referenced = resolve(c.segment);
        if (referenced) visit(referenced.condition);
        break;
      }
      default:
        assertNever(c, "condition");
    }
  };
  visit(ast.condition);
  return use;
}

/**
 * The events the in-memory evaluator of a streaming segment reads: each event type it refers to
 * (through `inSegment` references and event `where` clauses too), with how far back from now its
 * windows reach, in milliseconds. The streaming path reads only these events of a profile instead
 * of its whole look-back. A reach without bound (not streaming-eligible) is the whole look-back;
 * calendar windows get a day of slack for time zones and daylight-saving days.
 */
export function streamingEventReach(ast: SegmentAst, options: StreamingOptions = {}): Map<string, number> {
  const max = durationMs(options.maxLookback ?? { amount: 30, unit: "days" });
  const reach = new Map<string, number>();
  for (const { event, wholeHistory } of timeUse(ast, options).selectors) {
    const back = wholeHistory ? undefined : lookback(event.window);
    const slack = event.window?.kind === "calendar" ? DAY : 0;
    const ms = back === undefined ? max : Math.min(max, back + slack);
    reach.set(event.type, Math.max(reach.get(event.type) ?? 0, ms));
  }
  return reach;
}

/** Every event type a segment's own definition reads (not those of the segments it refers to). */
export function eventTypesRead(ast: SegmentAst): string[] {
  return [...new Set(timeUse(ast, {}).selectors.map((s) => s.event.type))];
}

/**
 * The lengths (ms) of the `within last` windows of each event type, when those windows are all the
 * segment's result depends on in time; undefined otherwise (other windows, ages, birthdays, windows
 * over values). Then, between records, the result can change only when an event enters a window
 * (at its time) or leaves it (its time + a length): `nextTimeChange` gives the next such instant.
 */
export function lastWindows(
  ast: SegmentAst,
  options: StreamingOptions = {},
): Map<string, number[]> | undefined {
  const use = timeUse(ast, options);
  if (use.otherClock) return undefined;
  const windows = new Map<string, number[]>();
  for (const { event, wholeHistory } of use.selectors) {
    if (wholeHistory || event.window?.kind !== "last") return undefined;
    const lengths = windows.get(event.type) ?? [];
    lengths.push(durationMs(event.window.duration));
    windows.set(event.type, lengths);
  }
  return windows;
}

/**
 * The first instant after `now` at which one of these events enters or leaves one of the `last`
 * windows (`[now - length, now]`), or +Infinity when none will.
 */
export function nextTimeChange(
  windows: ReadonlyMap<string, readonly number[]>,
  events: readonly ProfileEvent[],
  now: number,
): number {
  let next = Number.POSITIVE_INFINITY;
  for (const event of events) {
    const lengths = windows.get(event.type);
    if (!lengths) continue;
    const ts = typeof event.ts === "number" ? event.ts : new Date(event.ts).getTime();
    if (ts > now) next = Math.min(next, ts);
    for (const length of lengths) if (ts + length + 1 > now) next = Math.min(next, ts + length + 1);
  }
  return next;
}
