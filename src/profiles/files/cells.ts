import { assertNever } from "../../errors/index.ts";
import type { FieldType } from "../../schema/index.ts";
import { type Coerced, coerceValue } from "../values.ts";

/**
 * How a cell of a CSV or Parquet file becomes a typed value. `parseCell` is the rule; `cellSql`
 * says the same in DuckDB SQL for the bulk path, and the tests hold the two to the same answers.
 * An empty cell never reaches these: it means "not given" (the stored value is kept).
 *
 * | type | accepted text |
 * | --- | --- |
 * | string | anything, as is |
 * | integer | `[+-]digits`, surrounding spaces ignored, within ±(2^53-1) |
 * | number | decimal notation with an optional exponent (`12.5`, `-.5`, `1e3`), spaces ignored |
 * | boolean | `true`/`false`, `1`/`0`, `yes`/`no`, any case, spaces ignored |
 * | date | `YYYY-MM-DD`, a real calendar day (years 0100-9999) |
 * | timestamp | `YYYY-MM-DD`, or with `T`/space `HH:MM[:SS[.fraction]]`, then `Z` or `±HH[[:]MM]`; none means UTC; kept to the millisecond |
 * | string[] | a JSON array of strings: `["running","jazz"]` |
 */
export function parseCell(type: FieldType, text: string): Coerced {
  switch (type) {
    case "string":
    case "integer":
    case "boolean":
    case "date":
      return coerceValue(type, text, "text");
    case "number": {
      const trimmed = text.trim();
      if (!DECIMAL.test(trimmed)) return mismatch(type, text);
      const n = Number(trimmed);
      return Number.isFinite(n) ? { ok: true, value: n } : mismatch(type, text);
    }
    case "timestamp": {
      const date = parseFileTimestamp(text);
      return date
        ? { ok: true, value: date }
        : { ok: false, reason: `unparseable timestamp ${JSON.stringify(text)}` };
    }
    case "string[]": {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return mismatch(type, text);
      }
      // Lone surrogates (`"\ud800"`) parse in JavaScript but not in DuckDB: refused in both.
      return Array.isArray(parsed) && parsed.every((v) => typeof v === "string" && v.isWellFormed())
        ? { ok: true, value: parsed as string[] }
        : mismatch(type, text);
    }
    default:
      return assertNever(type, "field type");
  }
}

const typeNames = { number: "a number", "string[]": "an array of strings (JSON)" } as const;

/** Worded as `coerceValue` words it, so a bad cell reads alike from every path. */
function mismatch(type: keyof typeof typeNames, text: string): Coerced {
  return { ok: false, reason: `expected ${typeNames[type]}, got ${JSON.stringify(text.slice(0, 40))}` };
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

function daysInMonth(year: number, month: number): number {
  return month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31;
}

/** The file rule for timestamps (see the table above): strict, so DuckDB and JavaScript agree on it. */
export function parseFileTimestamp(text: string): Date | undefined {
  const m = TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  const offsetHours = Number(m[10] ?? 0);
  const offsetMinutes = Number(m[11] ?? 0);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 15 || offsetMinutes > 59) return undefined;
  const millis = Number((m[7] ?? ".").slice(1, 4).padEnd(3, "0"));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  const sign = m[9] === "-" ? -1 : 1;
  return new Date(date.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000);
}

// JavaScript's String.prototype.trim removes these; DuckDB's trim(text, characters) is told the same set.
const JS_WHITESPACE =
  "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";

/** A SQL string literal of constant text (no user input reaches this). */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** SQL: the text is empty once trimmed as JavaScript's `trim` does (a blank identity). */
export function blankSql(text: string): string {
  return `(CASE WHEN ascii(${text}) BETWEEN 33 AND 126 THEN false ELSE ${trimSql(text)} = '' END)`;
}

/** JavaScript's `trim` in SQL (DuckDB's `trim` with a set of characters; slow, so used only as a fallback). */
function trimSql(text: string): string {
  return `trim(${text}, ${literal(JS_WHITESPACE)})`;
}

// A JSON string: no raw control characters; escapes as JSON has them, surrogate escapes only in
// pairs (JavaScript reads a lone one, DuckDB does not, so both refuse it).
const JSON_STRING =
  '"([^"\\\\\\x00-\\x1f]|\\\\["\\\\/bfnrt]|\\\\u([0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2})|\\\\u[dD][89abAB][0-9a-fA-F]{2}\\\\u[dD][c-fC-F][0-9a-fA-F]{2})*"';
const JSON_WS = "[ \\t\\n\\r]*";
const JSON_STRING_ARRAY = `${JSON_WS}\\[${JSON_WS}(${JSON_STRING}${JSON_WS}(,${JSON_WS}${JSON_STRING}${JSON_WS})*)?\\]${JSON_WS}`;

/**
 * `parseCell` in DuckDB SQL over a VARCHAR expression (NULL for an empty cell): the typed value, or
 * NULL when the cell is empty or bad. Each rule tests the common form first with one regular
 * expression; spaces to trim and other rare forms take a slower branch that only their rows pay for.
 */
export function cellSql(type: FieldType, cell: string): string {
  switch (type) {
    case "string":
      return cell;
    case "integer": {
      const integer = (t: string) =>
        `CASE WHEN regexp_full_match(${t}, '[+-]?[0-9]+') AND abs(TRY_CAST(${t} AS HUGEINT)) <= 9007199254740991 THEN CAST(${t} AS BIGINT) END`;
      return `CASE WHEN regexp_full_match(${cell}, '[+-]?[0-9]{1,15}') THEN CAST(${cell} AS BIGINT) ELSE ${integer(trimSql(cell))} END`;
    }
    case "number": {
      const decimal = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?";
      const number = (t: string) =>
        `CASE WHEN regexp_full_match(${t}, '${decimal}') AND isfinite(TRY_CAST(${t} AS DOUBLE)) THEN CAST(${t} AS DOUBLE) END`;
      return `CASE WHEN regexp_full_match(${cell}, '[+-]?[0-9]{1,15}([.][0-9]{1,15})?') THEN CAST(${cell} AS DOUBLE) ELSE ${number(trimSql(cell))} END`;
    }
    case "boolean": {
      const boolean = (t: string) =>
        `CASE WHEN ${t} IN ('true', '1', 'yes') THEN true WHEN ${t} IN ('false', '0', 'no') THEN false END`;
      return `CASE WHEN ${cell} IN ('true', 'false', '1', '0', 'yes', 'no') THEN ${boolean(cell)} ELSE ${boolean(`lower(${trimSql(cell)})`)} END`;
    }
    case "date":
      return `CASE WHEN regexp_full_match(${cell}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') AND NOT starts_with(${cell}, '00') THEN TRY_CAST(${cell} AS DATE) END`;
    case "timestamp": {
      const pattern =
        "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,9})?)?)?([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?";
      // DuckDB reads upper-case T and Z only, and `HH:MM` followed by a zone only with seconds.
      const withSeconds = `upper(CASE WHEN length(${cell}) > 16 AND substr(${cell}, 17, 1) <> ':' THEN concat(substr(${cell}, 1, 16), ':00', substr(${cell}, 17)) ELSE ${cell} END)`;
      const cast = `TRY_CAST(${withSeconds} AS TIMESTAMPTZ)`;
      // Kept to the millisecond, as JavaScript's Date keeps it.
      const value = `CASE WHEN strpos(${cell}, '.') > 0 THEN date_trunc('millisecond', ${cast}) ELSE ${cast} END`;
      return `CASE WHEN regexp_full_match(${cell}, '${pattern}') AND NOT starts_with(${cell}, '0000') THEN ${value} END`;
    }
    case "string[]":
      return `CASE WHEN regexp_full_match(${cell}, '${JSON_STRING_ARRAY}') THEN CAST(from_json(${cell}, '["VARCHAR"]') AS VARCHAR[]) END`;
    default:
      return assertNever(type, "field type");
  }
}
