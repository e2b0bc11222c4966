import { assertNever } from "../errors/index.ts";
import type { ColumnKind, Dialect, Engine } from "./types.ts";

/**
 * What identifier hashing trims (space, tab, line feed, carriage return), spelled the same in SQL
 * here and in JavaScript (HASH_TRIM_PATTERN), so batch files and streamed messages hash alike.
 */
const HASH_TRIMMED = "' ' || chr(9) || chr(10) || chr(13)";
export const HASH_TRIM_PATTERN = /^[ \t\n\r]+|[ \t\n\r]+$/g;

const SANDBOX_NAME = /^[a-z][a-z0-9_]{0,30}$/;

export function isValidSandboxName(name: string): boolean {
  return SANDBOX_NAME.test(name);
}

/** Schema (namespace) holding a sandbox's typed tables. */
export function sandboxSchema(sandbox: string): string {
  if (!isValidSandboxName(sandbox)) throw new Error(`Invalid sandbox name '${sandbox}'`);
  return `sb_${sandbox}`;
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function baseType(engine: Engine, kind: ColumnKind): string {
  switch (kind) {
    case "string":
      return engine === "duckdb" ? "VARCHAR" : "TEXT";
    case "integer":
      return "BIGINT";
    case "number":
      return "DOUBLE PRECISION";
    case "boolean":
      return "BOOLEAN";
    case "date":
      return "DATE";
    case "timestamp":
      return "TIMESTAMPTZ";
    case "string[]":
      return engine === "duckdb" ? "VARCHAR[]" : "TEXT[]";
    default:
      return assertNever(kind, "column kind");
  }
}

export function createDialect(engine: Engine): Dialect {
  return {
    engine,
    columnType: (kind) => baseType(engine, kind),
    ident: quote,
    table: (sandbox, name) => `${quote(sandboxSchema(sandbox))}.${quote(name)}`,
    regexMatch: (value, pattern, caseInsensitive) =>
      engine === "duckdb"
        ? `regexp_matches(${value}, ${pattern}${caseInsensitive ? ", 'i'" : ""})`
        : `(${value} ${caseInsensitive ? "~*" : "~"} ${pattern})`,
    unnestColumns: (columns, firstParam) => {
      const textArray = engine === "duckdb" ? "VARCHAR[]" : "TEXT[]";
      const casts = columns.map((c, i) => `CAST(c${i} AS ${baseType(engine, c.kind)}) AS ${quote(c.name)}`);
      if (engine === "postgres") {
        const params = columns.map((_, i) => `$${firstParam + i}::${textArray}`).join(", ");
        const aliases = columns.map((_, i) => `c${i}`).join(", ");
        return `SELECT ${casts.join(", ")} FROM unnest(${params}) AS u(${aliases})`;
      }
      const unnests = columns.map((_, i) => `unnest(CAST($${firstParam + i} AS ${textArray})) AS c${i}`);
      return `SELECT ${casts.join(", ")} FROM (SELECT ${unnests.join(", ")})`;
    },
    sha256Normalized: (expr) =>
      engine === "duckdb"
        ? `sha256(lower(trim(${expr}, ${HASH_TRIMMED})))`
        : `encode(sha256(convert_to(lower(btrim(${expr}, ${HASH_TRIMMED})), 'UTF8')), 'hex')`,
    isoTimestamp: (expr) =>
      engine === "duckdb"
        ? `strftime(${expr}, '%Y-%m-%dT%H:%M:%S.%gZ')`
        : `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
    inTextList: (expr, param) =>
      engine === "duckdb"
        ? `list_contains(CAST($${param} AS VARCHAR[]), ${expr})`
        : `${expr} = ANY($${param}::TEXT[])`,
    arrayText: (values) => {
      // Both engines read double-quoted elements with backslash escapes; only the brackets differ.
      const items = values.map((v) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",");
      return engine === "postgres" ? `{${items}}` : `[${items}]`;
    },
    aggregateRows: (alias) => (engine === "postgres" ? `json_agg(${alias})` : `list(${alias})`),
  };
}
