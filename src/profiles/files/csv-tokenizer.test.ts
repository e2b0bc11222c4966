import { describe, expect, it } from "vitest";
import { type CsvRow, CsvTokenizer } from "./csv-tokenizer.ts";

function tokenize(
  text: string,
  delimiter = ",",
  chunkSize = text.length,
): { header?: string[]; rows: CsvRow[] } {
  const tokenizer = new CsvTokenizer(delimiter);
  const rows: CsvRow[] = [];
  for (let i = 0; i < text.length; i += Math.max(chunkSize, 1))
    tokenizer.push(text.slice(i, i + chunkSize), rows);
  tokenizer.end(rows);
  return { ...(tokenizer.header ? { header: tokenizer.header } : {}), rows };
}

describe("CsvTokenizer", () => {
  const sample =
    'a,b,c\r\n1,"x, ""quoted""\r\nnext line",3\n\n2,  "spaced" ,y\r3,ab"c,z\n4,"open"junk,5\n5,6\n7,8,9,\n8,9,10,11\n"9",,\n';

  it("reads quoted values, doubled quotes, embedded line breaks and every line ending", () => {
    const { header, rows } = tokenize(sample);
    expect(header).toEqual(["a", "b", "c"]);
    expect(rows).toEqual([
      { row: 1, cells: ["1", 'x, "quoted"\r\nnext line', "3"] },
      // row 2 is the empty line
      { row: 3, cells: ["2", "spaced", "y"] },
      { row: 4, cells: ["3", 'ab"c', "z"] },
      { row: 5, error: "malformed CSV: a quoted value is not closed, or text follows its closing quote" },
      { row: 6, error: "malformed CSV: expected 3 columns, found 2" },
      { row: 7, cells: ["7", "8", "9"] },
      { row: 8, error: "malformed CSV: more than 3 columns" },
      { row: 9, cells: ["9", "", ""] },
    ]);
  });

  it.each([1, 2, 3, 7, 64])("gives the same rows whatever the chunk size (%i)", (size) => {
    expect(tokenize(sample, ",", size)).toEqual(tokenize(sample));
  });

  it("rejects a quote left open at the end, with the row where it began", () => {
    expect(tokenize('h1;h2\nok;1\nbad;"never closed\nmore;2\n', ";").rows).toEqual([
      { row: 1, cells: ["ok", "1"] },
      { row: 2, error: "malformed CSV: a quoted value is not closed, or text follows its closing quote" },
    ]);
  });

  it("reads a last line without a line break, tabs, and one-column files", () => {
    expect(tokenize("a\tb\n1\t2", "\t").rows).toEqual([{ row: 1, cells: ["1", "2"] }]);
    expect(tokenize("only\nx\n\ny\n").rows).toEqual([
      { row: 1, cells: ["x"] },
      { row: 3, cells: ["y"] },
    ]);
  });

  it("refuses a delimiter that is not one character", () => {
    expect(() => new CsvTokenizer(";;")).toThrow(/single character/);
  });
});
