/**
 * Wall-clock time in an IANA time zone, computed with Intl.DateTimeFormat (no time-zone library).
 *
 * Calendar days are handled as epoch days: whole days since 1970-01-01 of the proleptic Gregorian
 * calendar, independent of any zone, so day arithmetic is integer arithmetic. Times of day are
 * minutes since local midnight.
 */

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;

/** A calendar date, month 1-12, with its weekday (0 = Sunday). */
export interface CivilDate {
  year: number;
  month: number;
  day: number;
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when Intl knows the zone (IANA names and their aliases, case-insensitively). */
export function isValidTimeZone(timeZone: string): boolean {
  if (!timeZone.trim()) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock of `timeZone` at `epochMs`, read as if it were UTC (milliseconds dropped). */
function wallClockMs(epochMs: number, timeZone: string): number {
  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timeZone).formatToParts(epochMs)) {
    if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
  }
  return Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second);
}

/** The zone's offset from UTC at an instant, in milliseconds (Paris in summer: +7,200,000). */
export function offsetMs(epochMs: number, timeZone: string): number {
  const wholeSecond = epochMs - (((epochMs % 1000) + 1000) % 1000);
  return wallClockMs(wholeSecond, timeZone) - wholeSecond;
}

/** The local calendar day, as an epoch day, on which an instant falls in `timeZone`. */
export function epochDayAt(instant: Date, timeZone: string): number {
  return Math.floor(wallClockMs(instant.getTime(), timeZone) / MS_PER_DAY);
}

/** "2026-03-29" → its epoch day; the caller has validated the format. */
export function epochDayOfIsoDate(isoDate: string): number {
  const [year, month, day] = isoDate.split("-").map(Number);
  return Math.floor(Date.UTC(year ?? 1970, (month ?? 1) - 1, day ?? 1) / MS_PER_DAY);
}

/** True for a real calendar date written YYYY-MM-DD (rejects 2026-02-30). */
export function isIsoDate(text: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const { year, month, day } = civilDate(epochDayOfIsoDate(text));
  return `${year}-${pad(month)}-${pad(day)}` === text;
}

export function civilDate(epochDay: number): CivilDate {
  const date = new Date(epochDay * MS_PER_DAY);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    weekday: date.getUTCDay(),
  };
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The instant at which the wall clock of `timeZone` reads `minuteOfDay` on `epochDay`.
 *
 * Two wall times are not one-to-one with instants around daylight-saving transitions:
 * - repeated (the fall-back hour, e.g. 02:30 on 2026-10-25 in Paris): the FIRST occurrence, so a
 *   schedule runs once, before the clocks go back;
 * - skipped (the spring-forward gap, e.g. 02:30 on 2026-03-29 in Paris): the first instant after
 *   the gap, i.e. the transition itself (03:00 local = 01:00Z). Unlike shifting by the gap's length
 *   (03:30), every time inside the gap maps to the same instant the clocks jump to, so a skipped
 *   run happens as soon as that wall time has been passed.
 */
export function instantAtWallTime(epochDay: number, minuteOfDay: number, timeZone: string): Date {
  const wall = epochDay * MS_PER_DAY + minuteOfDay * MS_PER_MINUTE;
  // A day either side brackets any single transition near this wall time.
  const offsetBefore = offsetMs(wall - MS_PER_DAY, timeZone);
  const offsetAfter = offsetMs(wall + MS_PER_DAY, timeZone);
  const matches = [wall - offsetBefore, wall - offsetAfter]
    .filter((candidate) => offsetMs(candidate, timeZone) === wall - candidate)
    .sort((a, b) => a - b);
  const earliest = matches[0];
  if (earliest !== undefined) return new Date(earliest);
  // In the gap: the transition lies in (wall - offsetAfter, wall - offsetBefore]; find it to the
  // second (the zone database's resolution) by bisection.
  let low = Math.floor((wall - offsetAfter) / 1000);
  let high = Math.floor((wall - offsetBefore) / 1000);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (offsetMs(middle * 1000, timeZone) === offsetBefore) low = middle;
    else high = middle;
  }
  return new Date(high * 1000);
}

function pad(value: number): string {
  return String(value).padStart(2, "0");
}
