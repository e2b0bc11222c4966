import { assertNever } from "../../errors/index.ts";
import type { FieldType } from "../../schema/index.ts";

/** SQL types values are cast to; the same names work on DuckDB and PostgreSQL. */
export type SqlType =
  | "TEXT"
  | "DOUBLE PRECISION"
  | "BIGINT"
  | "UBIGINT"
  | "INTEGER"
  | "BOOLEAN"
  | "DATE"
  | "TIMESTAMPTZ"
  | "INTERVAL";

export function sqlTypeOf(type: FieldType): SqlType {
  switch (type) {
    case "string":
    case "string[]":
      return "TEXT";
    case "integer":
    case "number":
      return "DOUBLE PRECISION";
    case "boolean":
      return "BOOLEAN";
    case "date":
      return "DATE";
    case "timestamp":
      return "TIMESTAMPTZ";
    default:
      return assertNever(type, "field type");
  }
}

/**
 * Every value of a compiled segment is a bound parameter, cast to its type at the place it is
 * used, so the text of the SQL holds only identifiers from the schema and fixed keywords.
 */
export class SqlParams {
  readonly values: unknown[] = [];

  /** A typed placeholder: `CAST($n AS TYPE)`. */
  add(value: unknown, type: SqlType): string {
    this.values.push(value);
    return `CAST($${this.values.length} AS ${type})`;
  }

  /** The number of a parameter, for dialect helpers that take one. */
  raw(value: unknown): number {
    this.values.push(value);
    return this.values.length;
  }
}
