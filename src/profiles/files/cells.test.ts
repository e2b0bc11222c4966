import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FieldType } from "../../schema/index.ts";
import { blankSql, cellSql, parseCell } from "./cells.ts";

/** Edge cases per type: the JavaScript rule and its SQL twin must accept the same and read the same value. */
const cases: Record<Exclude<FieldType, "string">, string[]> = {
  integer: [
    "5",
    "+5",
    "-0",
    "007",
    " 12 ",
    "\u00a012\u3000",
    "123456789012345",
    "1234567890123456",
    "9007199254740991",
    "9007199254740992",
    "-9007199254740991",
    "99999999999999999999999999999999999999999",
    "1e3",
    "1.",
    ".5",
    "1_000",
    "0x1F",
    "abc",
    "1 2",
    "--1",
    "+",
    "٣",
  ],
  number: [
    "1",
    "12.5",
    "-.5",
    "+.5e-3",
    "1.",
    ".",
    "1e400",
    "inf",
    "Infinity",
    "NaN",
    "0x1F",
    " 3.25 ",
    "1,5",
    "1e",
    "e5",
    "-0",
    "123456789012345678901234567890",
    "4.35",
    "0.1e1",
    "123456789012345.123456789012345",
    "00.5",
  ],
  boolean: ["true", "TRUE", " yes ", "No", "1", "0", "t", "y", "truee", "\u00a0false", "Yes", "TRUE "],
  date: [
    "2024-02-29",
    "2023-02-29",
    "0050-01-01",
    "0100-01-01",
    "2024-1-5",
    " 2024-01-05",
    "2024-01-05T00:00:00Z",
    "9999-12-31",
    "2024-13-01",
    "2024-00-10",
  ],
  timestamp: [
    "2024-02-29T08:30:00Z",
    "2024-02-29 08:30:00+0530",
    "2024-02-29t08:30z",
    "2024-02-29T08:30:00.123456789Z",
    "2024-02-29T24:00:00Z",
    "2024-02-29T08:30:00+05",
    "2024-02-29",
    "2024-02-29T08:30",
    "2024-02-29 08:30+05:45",
    "2024-02-29T08:30:00-15:59",
    "2024-02-29T08:30:00+16",
    "0001-01-01T00:00:00Z",
    "0000-01-01",
    "2023-02-29T00:00:00Z",
    "2024-02-29T08:30:60Z",
    "1969-12-31T23:59:59.999Z",
    "1969-12-31T23:59:59.9999Z",
    "2024-02-29T08",
    "2024-02-29T08:30:00 Z",
    "2024-02-29  08:30",
  ],
  "string[]": [
    '["a","b"]',
    "[]",
    ' [ "a" ] ',
    '["a",]',
    '["a" , ]',
    "[1]",
    '["a",null]',
    '{"a":1}',
    '"a"',
    "a,b",
    '["a" /*c*/]',
    '["a\nb"]',
    '["\\x"]',
    '["a"] x',
    '["\\ud800"]',
    "['a']",
    '["é\\u00e9"]',
    "[,]",
    "[ ]",
    '["a\\"b", "c\\\\"]',
    '["\\ud83d\\ude00"]',
    '["\\ude00"]',
    '["tab\there"]',
    '["\\u00"]',
    '[["a"]]',
    "[true]",
    '["😀", "日本"]',
    '["a" "b"]',
    '["\\u0041"]',
    '\t["a"]\n',
  ],
};

let instance: DuckDBInstance;
let connection: DuckDBConnection;
beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:");
  connection = await instance.connect();
  await connection.run("LOAD icu");
  await connection.run("SET TimeZone = 'UTC'");
});
afterAll(() => {
  connection.closeSync();
  instance.closeSync();
});

/** The SQL rule's value as text: ISO instants, YYYY-MM-DD dates, JSON lists; null when refused. */
async function sqlValue(type: FieldType, text: string): Promise<string | null> {
  const cell = cellSql(type, "v");
  const shown =
    type === "timestamp"
      ? `strftime(x, '%Y-%m-%dT%H:%M:%S.%gZ')`
      : type === "string[]"
        ? "CAST(to_json(x) AS VARCHAR)"
        : "CAST(x AS VARCHAR)";
  const result = await connection.runAndReadAll(
    `SELECT ${shown} AS shown FROM (SELECT ${cell} AS x FROM (SELECT CAST($1 AS VARCHAR) AS v))`,
    [text],
  );
  return (result.getRowObjectsJS()[0]?.shown as string | null) ?? null;
}

function jsValue(type: FieldType, text: string): string | null {
  const parsed = parseCell(type, text);
  if (!parsed.ok) return null;
  const { value } = parsed;
  if (value instanceof Date)
    return value
      .toISOString()
      .replace(/^\+0*|^-0*/, "")
      .padStart(24, "0");
  if (Array.isArray(value)) return JSON.stringify(value);
  if (type === "number" && typeof value === "number") return String(value);
  return String(value);
}

describe("file cell rules: parseCell and cellSql agree", () => {
  for (const [type, values] of Object.entries(cases) as [Exclude<FieldType, "string">, string[]][]) {
    it.each(values)(`${type} %j`, async (text) => {
      const js = jsValue(type, text);
      const sql = await sqlValue(type, text);
      if (type === "number" && js !== null && sql !== null) expect(Number(sql) === Number(js)).toBe(true);
      else expect(sql).toBe(js);
    });
  }

  it("refuses what it should, with the reason the API gives", () => {
    expect(parseCell("integer", "1.5")).toEqual({ ok: false, reason: 'expected an integer, got "1.5"' });
    expect(parseCell("date", "2023-02-29")).toEqual({ ok: false, reason: 'unparseable date "2023-02-29"' });
    expect(parseCell("timestamp", "soon")).toEqual({ ok: false, reason: 'unparseable timestamp "soon"' });
    expect(parseCell("string[]", "a;b")).toMatchObject({ ok: false });
  });

  it.each(["", " ", "\u00a0\t", "x", " x "])("blankSql agrees with trim() on %j", async (text) => {
    const result = await connection.runAndReadAll(
      `SELECT ${blankSql("v")} AS blank FROM (SELECT CAST($1 AS VARCHAR) AS v)`,
      [text],
    );
    expect(result.getRowObjectsJS()[0]?.blank).toBe(text.trim() === "");
  });
});
