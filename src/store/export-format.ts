import { assertNever } from "../errors/index.ts";

/** How a query's rows are written as bytes by the engine itself (rows never become JS objects). */
export type ExportFormat =
  | {
      type: "csv";
      delimiter: string;
      /** Empty string: no quoting at all. */
      quote: string;
      escape: string;
      header: boolean;
      nullText: string;
    }
  | { type: "jsonl" }
  | { type: "parquet" };

/** A one-character option as an SQL string literal; these come from validated file options. */
export function charLiteral(value: string, engine: "duckdb" | "postgres"): string {
  if (value.length > 1) throw new Error(`expected one character, got ${JSON.stringify(value)}`);
  if (value === "\t") return engine === "postgres" ? "E'\\t'" : "'\t'";
  return `'${value.replaceAll("'", "''")}'`;
}

export function textLiteral(value: string): string {
  if (/[\0\r\n]/.test(value)) throw new Error("option text cannot contain control characters");
  return `'${value.replaceAll("'", "''")}'`;
}

/** The COPY options of DuckDB for a format. */
export function duckdbCopyOptions(format: ExportFormat): string {
  switch (format.type) {
    case "csv":
      return [
        "FORMAT csv",
        `DELIMITER ${charLiteral(format.delimiter, "duckdb")}`,
        `QUOTE ${charLiteral(format.quote, "duckdb")}`,
        `ESCAPE ${charLiteral(format.escape || format.quote, "duckdb")}`,
        `HEADER ${format.header ? "true" : "false"}`,
        `NULLSTR ${textLiteral(format.nullText)}`,
      ].join(", ");
    case "jsonl":
      return "FORMAT json";
    case "parquet":
      return "FORMAT parquet, COMPRESSION zstd";
    default:
      return assertNever(format, "export format");
  }
}
