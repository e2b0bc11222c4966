import { assertNever } from "../errors/index.ts";
import type { Field, FieldType } from "../schema/index.ts";

/** A typed field value as Herald holds it in JavaScript: dates as `YYYY-MM-DD`, timestamps as Date. */
export type FieldValue = string | number | boolean | Date | string[] | null;

export type Coerced = { ok: true; value: FieldValue } | { ok: false; reason: string };

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
// ISO 8601 with an explicit offset or Z; a date alone means midnight UTC.
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/i;
const INTEGER = /^[+-]?\d+$/;

export function isCalendarDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

export function parseTimestamp(text: string): Date | undefined {
  if (!TIMESTAMP.test(text)) return undefined;
  const hasZone = /(Z|[+-]\d{2}(:?\d{2})?)$/i.test(text) && text.length > 10;
  const date = new Date(hasZone || text.length === 10 ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const typeNames: Record<FieldType, string> = {
  string: "a string",
  integer: "an integer",
  number: "a number",
  boolean: "a boolean",
  date: "a date (YYYY-MM-DD)",
  timestamp: "an ISO 8601 timestamp",
  "string[]": "an array of strings",
};

/**
 * Checks and converts one raw value for a field. `text` input (CSV cells) is parsed from its
 * string form; `json` input must already have the JSON type that matches (a number for a number).
 */
export function coerceValue(type: FieldType, raw: unknown, origin: "json" | "text"): Coerced {
  if (raw === null || raw === undefined) return { ok: true, value: null };
  const mismatch = (): Coerced => ({
    ok: false,
    reason: `expected ${typeNames[type]}, got ${typeof raw === "string" ? JSON.stringify(raw.slice(0, 40)) : JSON.stringify(raw)}`,
  });
  switch (type) {
    case "string":
      return typeof raw === "string" ? { ok: true, value: raw } : mismatch();
    case "integer": {
      if (typeof raw === "number") return Number.isSafeInteger(raw) ? { ok: true, value: raw } : mismatch();
      if (origin === "text" && typeof raw === "string" && INTEGER.test(raw.trim())) {
        const n = Number(raw.trim());
        return Number.isSafeInteger(n) ? { ok: true, value: n } : mismatch();
      }
      return mismatch();
    }
    case "number": {
      if (typeof raw === "number") return Number.isFinite(raw) ? { ok: true, value: raw } : mismatch();
      if (origin === "text" && typeof raw === "string" && raw.trim() !== "") {
        const n = Number(raw.trim());
        return Number.isFinite(n) ? { ok: true, value: n } : mismatch();
      }
      return mismatch();
    }
    case "boolean": {
      if (typeof raw === "boolean") return { ok: true, value: raw };
      if (origin === "text" && typeof raw === "string") {
        const t = raw.trim().toLowerCase();
        if (t === "true" || t === "1" || t === "yes") return { ok: true, value: true };
        if (t === "false" || t === "0" || t === "no") return { ok: true, value: false };
      }
      return mismatch();
    }
    case "date":
      if (typeof raw !== "string") return mismatch();
      return isCalendarDate(raw)
        ? { ok: true, value: raw }
        : { ok: false, reason: `unparseable date ${JSON.stringify(raw)}` };
    case "timestamp": {
      if (typeof raw !== "string") return mismatch();
      const date = parseTimestamp(raw);
      return date
        ? { ok: true, value: date }
        : { ok: false, reason: `unparseable timestamp ${JSON.stringify(raw)}` };
    }
    case "string[]":
      if (Array.isArray(raw) && raw.every((v) => typeof v === "string"))
        return { ok: true, value: raw as string[] };
      return mismatch();
    default:
      return assertNever(type, "field type");
  }
}

/** The text form `Dialect.unnestColumns` casts back into the column's type. */
export function valueToText(
  field: Pick<Field, "type">,
  value: FieldValue,
  arrayText: (v: string[]) => string,
): string | null {
  if (value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return arrayText(value);
  if (field.type === "boolean") return value ? "true" : "false";
  return String(value);
}
