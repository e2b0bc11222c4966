import { assertNever } from "../errors/index.ts";
import {
  type CalendarPeriod,
  type ComparisonOp,
  durationMs,
  type Literal,
  type TimePoint,
  type Window,
} from "./ast.ts";

/**
 * Windows resolve to concrete bounds before anything is evaluated, in one place for the SQL
 * compiler and the evaluator: both then compare with the same instants and dates, so calendar and
 * time-zone rules cannot drift apart between batch and streaming.
 */
export interface Bound<T> {
  value: T;
  inclusive: boolean;
}
export interface Range<T> {
  lower?: Bound<T>;
  upper?: Bound<T>;
}

const DAY_MS = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timezone, f);
  }
  return f;
}

export function isValidTimeZone(timezone: string): boolean {
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock fields of an instant in a zone. */
function wallClock(
  ms: number,
  timezone: string,
): { y: number; m: number; d: number; h: number; min: number; s: number } {
  if (timezone === "UTC") {
    const t = new Date(ms);
    return {
      y: t.getUTCFullYear(),
      m: t.getUTCMonth() + 1,
      d: t.getUTCDate(),
      h: t.getUTCHours(),
      min: t.getUTCMinutes(),
      s: t.getUTCSeconds(),
    };
  }
  const parts = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of formatter(timezone).formatToParts(new Date(ms))) {
    if (p.type in parts) parts[p.type as keyof typeof parts] = Number(p.value);
  }
  return { y: parts.year, m: parts.month, d: parts.day, h: parts.hour, min: parts.minute, s: parts.second };
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** Year, month, day of a YYYY-MM-DD text. */
export function dateParts(date: string): [number, number, number] {
  return [Number(date.slice(0, 4)), Number(date.slice(5, 7)), Number(date.slice(8, 10))];
}

export function dateText(y: number, m: number, d: number): string {
  const t = new Date(Date.UTC(y, m - 1, d));
  return `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

/** The calendar date of an instant in a zone, as YYYY-MM-DD. */
export function localDate(ms: number, timezone: string): string {
  const w = wallClock(ms, timezone);
  return dateText(w.y, w.m, w.d);
}

export function addDays(date: string, days: number): string {
  const [y, m, d] = dateParts(date);
  return dateText(y, m, d + days);
}

/** The instant a calendar day starts in a zone (the first instant of that local date). */
export function startOfDay(date: string, timezone: string): number {
  const [y, m, d] = dateParts(date);
  const utcMidnight = Date.UTC(y, m - 1, d);
  if (timezone === "UTC") return utcMidnight;
  // Offset at a guess, then correct once: enough for every real zone's transitions.
  const offsetAt = (ms: number) => {
    const w = wallClock(ms, timezone);
    return Date.UTC(w.y, w.m - 1, w.d, w.h, w.min, w.s) - Math.floor(ms / 1000) * 1000;
  };
  let guess = utcMidnight - offsetAt(utcMidnight);
  guess = utcMidnight - offsetAt(guess);
  // A zone that skips midnight (DST at 00:00) starts the day at the first existing instant.
  if (localDate(guess, timezone) !== date) guess += 3_600_000;
  return guess;
}

function period(period: CalendarPeriod, today: string): { from: string; to: string } {
  const [y, m] = dateParts(today);
  switch (period) {
    case "today":
      return { from: today, to: addDays(today, 1) };
    case "yesterday":
      return { from: addDays(today, -1), to: today };
    case "thisMonth":
      return { from: dateText(y, m, 1), to: dateText(y, m + 1, 1) };
    case "lastMonth":
      return { from: dateText(y, m - 1, 1), to: dateText(y, m, 1) };
    case "thisYear":
      return { from: dateText(y, 1, 1), to: dateText(y + 1, 1, 1) };
    default:
      return assertNever(period, "calendar period");
  }
}

/** The evaluation moment: `now` and the local date in the segment's zone. */
export interface Clock {
  now: number;
  timezone: string;
  today: string;
}

export function clockAt(now: Date | number, timezone = "UTC"): Clock {
  const ms = typeof now === "number" ? now : now.getTime();
  return { now: ms, timezone, today: localDate(ms, timezone) };
}

/** An instant for a time point compared with a timestamp (a date means its local midnight). */
export function instantOf(point: TimePoint, clock: Clock): number {
  switch (point.type) {
    case "timestamp":
      return Date.parse(point.value);
    case "date":
      return startOfDay(point.value, clock.timezone);
    case "today":
      return startOfDay(clock.today, clock.timezone);
    case "now":
      return clock.now;
    default:
      return assertNever(point, "time point");
  }
}

/** Bounds of a window over timestamps (epoch milliseconds). */
export function timestampRange(window: Window, clock: Clock): Range<number> {
  switch (window.kind) {
    case "last":
      return {
        lower: { value: clock.now - durationMs(window.duration), inclusive: true },
        upper: { value: clock.now, inclusive: true },
      };
    case "next":
      return {
        lower: { value: clock.now, inclusive: true },
        upper: { value: clock.now + durationMs(window.duration), inclusive: true },
      };
    case "before":
      return { upper: { value: instantOf(window.at, clock), inclusive: false } };
    case "after": {
      const at = window.at;
      // After a day means from the start of the next day.
      if (at.type === "date" || at.type === "today") {
        const day = at.type === "date" ? at.value : clock.today;
        return { lower: { value: startOfDay(addDays(day, 1), clock.timezone), inclusive: true } };
      }
      return { lower: { value: instantOf(at, clock), inclusive: false } };
    }
    case "calendar": {
      const { from, to } = period(window.period, clock.today);
      return {
        lower: { value: startOfDay(from, clock.timezone), inclusive: true },
        upper: { value: startOfDay(to, clock.timezone), inclusive: false },
      };
    }
    default:
      return assertNever(window, "window");
  }
}

function days(window: { duration: { amount: number; unit: string } }): number {
  return window.duration.unit === "weeks" ? window.duration.amount * 7 : window.duration.amount;
}

/** The instants of one local day: [start, end). */
export function dayInstants(date: string, timezone: string): { start: number; end: number } {
  return { start: startOfDay(date, timezone), end: startOfDay(addDays(date, 1), timezone) };
}

/**
 * `timestamp <op> date` at the date's granularity: `=` is any instant of that local day, `<=`
 * includes the day, `>` starts with the next one; `!=` is the complement of `=`.
 */
export function dayComparison(
  op: ComparisonOp,
  date: string,
  timezone: string,
): { range: Range<number>; negate: boolean } {
  const { start, end } = dayInstants(date, timezone);
  const day: Range<number> = {
    lower: { value: start, inclusive: true },
    upper: { value: end, inclusive: false },
  };
  switch (op) {
    case "=":
      return { range: day, negate: false };
    case "!=":
      return { range: day, negate: true };
    case "<":
      return { range: { upper: { value: start, inclusive: false } }, negate: false };
    case "<=":
      return { range: { upper: { value: end, inclusive: false } }, negate: false };
    case ">":
      return { range: { lower: { value: end, inclusive: true } }, negate: false };
    case ">=":
      return { range: { lower: { value: start, inclusive: true } }, negate: false };
    default:
      return assertNever(op, "comparison");
  }
}

/** The instants a date or timestamp literal stands for when compared with a timestamp. */
export function instantsOf(literal: Literal, timezone: string): Range<number> {
  if (literal.type === "date") return dayComparison("=", literal.value, timezone).range;
  const at = literal.type === "timestamp" ? Date.parse(literal.value) : Number.NaN;
  return { lower: { value: at, inclusive: true }, upper: { value: at, inclusive: true } };
}

/** `timestamp between low and high`: a date bound covers its whole day. */
export function betweenInstants(low: Literal, high: Literal, timezone: string): Range<number> {
  const lower = instantsOf(low, timezone).lower;
  const upper = instantsOf(high, timezone).upper;
  return { ...(lower ? { lower } : {}), ...(upper ? { upper } : {}) };
}

/** Bounds of a window over dates (YYYY-MM-DD); typecheck keeps hours and timestamps away from dates. */
export function dateRange(window: Window, clock: Clock): Range<string> {
  switch (window.kind) {
    case "last":
      return {
        lower: { value: addDays(clock.today, -days(window)), inclusive: true },
        upper: { value: clock.today, inclusive: true },
      };
    case "next":
      return {
        lower: { value: clock.today, inclusive: true },
        upper: { value: addDays(clock.today, days(window)), inclusive: true },
      };
    case "before":
    case "after": {
      const at = window.at;
      const day =
        at.type === "date"
          ? at.value
          : at.type === "timestamp"
            ? localDate(Date.parse(at.value), clock.timezone)
            : clock.today;
      const bound = { value: day, inclusive: false };
      return window.kind === "before" ? { upper: bound } : { lower: bound };
    }
    case "calendar": {
      const { from, to } = period(window.period, clock.today);
      return { lower: { value: from, inclusive: true }, upper: { value: to, inclusive: false } };
    }
    default:
      return assertNever(window, "window");
  }
}

/** Age in whole years on `today` of someone born on `birth` (a Feb 29 birthday counts on Mar 1). */
export function ageOn(birth: string, today: string): number {
  const by = Number(birth.slice(0, 4));
  const ty = Number(today.slice(0, 4));
  return ty - by - (today.slice(5) < birth.slice(5) ? 1 : 0);
}

/** Month-day keys (MM-DD) of the next `days` days from today, Feb 29 birthdays included on Mar 1 of common years. */
export function birthdayKeys(today: string, daysAhead: number): string[] {
  const keys = new Set<string>();
  for (let i = 0; i <= daysAhead; i++) {
    const day = addDays(today, i);
    keys.add(day.slice(5));
    const year = Number(day.slice(0, 4));
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    if (!leap && day.slice(5) === "03-01") keys.add("02-29");
  }
  return [...keys];
}

export { DAY_MS };
