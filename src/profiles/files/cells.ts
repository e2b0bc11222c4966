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

/**
 * `parseCell` in DuckDB SQL over a VARCHAR expression that is never NULL or empty: `value` is the
 * typed value (NULL when the cell is bad) and `ok` is true when the cell is good.
 */
export function cellSql(type: FieldType, cell: string): { value: string; ok: string } {
  const trimmed = `trim(${cell}, ${literal(JS_WHITESPACE)})`;
  switch (type) {
    case "string":
      return { value: cell, ok: "true" };
    case "integer": {
      const value = `CASE WHEN regexp_full_match(${trimmed}, '[+-]?[0-9]+') THEN TRY_CAST(${trimmed} AS HUGEINT) END`;
      const bounded = `CASE WHEN abs(${value}) <= 9007199254740991 THEN CAST(${value} AS BIGINT) END`;
      return { value: bounded, ok: `(${bounded} IS NOT NULL)` };
    }
    case "number": {
      const value = `CASE WHEN regexp_full_match(${trimmed}, '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?') THEN TRY_CAST(${trimmed} AS DOUBLE) END`;
      const finite = `CASE WHEN isfinite(${value}) THEN ${value} END`;
      return { value: finite, ok: `(${finite} IS NOT NULL)` };
    }
    case "boolean": {
      const lower = `lower(${trimmed})`;
      const value = `CASE WHEN ${lower} IN ('true', '1', 'yes') THEN true WHEN ${lower} IN ('false', '0', 'no') THEN false END`;
      return { value, ok: `(${value} IS NOT NULL)` };
    }
    case "date": {
      const value = `CASE WHEN regexp_full_match(${cell}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') AND NOT starts_with(${cell}, '00') THEN TRY_CAST(${cell} AS DATE) END`;
      return { value, ok: `(${value} IS NOT NULL)` };
    }
    case "timestamp": {
      const pattern =
        "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,9})?)?)?([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?";
      // DuckDB reads `HH:MM` followed by a zone only with seconds: add them.
      const withSeconds = `regexp_replace(upper(${cell}), '^([0-9-]{10}[T ][0-9]{2}:[0-9]{2})([Z+-].*)?$', '\\1:00\\2')`;
      const value = `CASE WHEN regexp_full_match(${cell}, '${pattern}') AND NOT starts_with(${cell}, '0000') THEN date_trunc('millisecond', TRY_CAST(${withSeconds} AS TIMESTAMPTZ)) END`;
      return { value, ok: `(${value} IS NOT NULL)` };
    }
    case "string[]": {
      // CASE, not AND: DuckDB's JSON functions raise an error on invalid JSON instead of returning NULL.
      const strings = `coalesce(list_bool_and(list_transform(json_extract(${cell}, '$[*]'), x -> json_type(x) = 'VARCHAR')), true)`;
      const ok = `(CASE WHEN json_valid(${cell}) THEN json_type(${cell}) = 'ARRAY' AND NOT regexp_matches(${cell}, ',[ \t\n\r]*\\][ \t\n\r]*$') AND ${strings} ELSE false END)`;
      const value = `CASE WHEN ${ok} THEN CAST(from_json(${cell}, '["VARCHAR"]') AS VARCHAR[]) END`;
      return { value, ok };
    }
    default:
      return assertNever(type, "field type");
  }
}
