import { escapeLiteral } from "pg";

/**
 * A bound value as an SQL literal. node-postgres sends every parameter as text of no declared type,
 * which the server types from its context; a quoted literal is typed the same way, so a statement
 * means the same with its parameters inlined.
 */
function literal(value: unknown, index: number): string {
  if (value === null || value === undefined) return "NULL";
  if (value instanceof Date) return escapeLiteral(value.toISOString());
  if (typeof value === "string") return escapeLiteral(value);
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "bigint") {
    return escapeLiteral(String(value));
  }
  throw new Error(`parameter $${index} (${typeof value}) has no SQL literal form here`);
}

/** Where a quoted run ends: the quote closing it, a doubled quote (or `\'` in E'') staying inside. */
function closingQuote(sql: string, open: number, quote: string, backslashEscapes: boolean): number {
  for (let i = open + 1; i < sql.length; i++) {
    if (backslashEscapes && sql[i] === "\\") i++;
    else if (sql[i] === quote) {
      if (sql[i + 1] !== quote) return i;
      i++;
    }
  }
  return sql.length - 1;
}

/**
 * The statement with its `$n` parameters written in as literals, for PostgreSQL statements that
 * take none (`COPY (query) TO STDOUT`). Only placeholders outside quoted strings, quoted
 * identifiers and comments are replaced; the values are escaped by node-postgres's `escapeLiteral`.
 */
export function inlineParameters(sql: string, params: readonly unknown[]): string {
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    let end = i; // the last character of a run copied as it is
    if (c === "'" || c === '"') end = closingQuote(sql, i, c, c === "'" && /[eE]/.test(sql[i - 1] ?? ""));
    else if (c === "-" && sql[i + 1] === "-") end = (sql.indexOf("\n", i) + 1 || sql.length + 1) - 1;
    else if (c === "/" && sql[i + 1] === "*") end = (sql.indexOf("*/", i + 2) + 2 || sql.length + 1) - 1;
    else if (c === "$") {
      const digits = /^\d+/.exec(sql.slice(i + 1))?.[0];
      if (digits) {
        const index = Number(digits);
        if (index < 1 || index > params.length) {
          throw new Error(`parameter $${index} has no value (${params.length} given)`);
        }
        out += literal(params[index - 1], index);
        i += 1 + digits.length;
        continue;
      }
    }
    out += sql.slice(i, end + 1);
    i = end + 1;
  }
  return out;
}
