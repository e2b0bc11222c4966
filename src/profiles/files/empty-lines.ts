import { type CsvRow, CsvTokenizer } from "./csv-tokenizer.ts";
import { type FileInput, openBytes, openText } from "./input.ts";

/** Does any line break come straight after another (`\n\n`, `\r\r`, `\n\r`)? Then a line may be empty. */
async function hasAdjacentLineBreaks(input: FileInput): Promise<boolean> {
  let previous = 0;
  for await (const chunk of openBytes(input)) {
    const bytes = chunk as Buffer;
    if (bytes.length === 0) continue;
    if (
      (previous === 10 || previous === 13) &&
      (bytes[0] === 10 || bytes[0] === 13) &&
      !(previous === 13 && bytes[0] === 10)
    )
      return true;
    if (bytes.indexOf("\n\n") >= 0 || bytes.indexOf("\r\r") >= 0 || bytes.indexOf("\n\r") >= 0) return true;
    previous = bytes[bytes.length - 1] as number;
  }
  return false;
}

/**
 * The numbers of a CSV file's empty rows, which DuckDB's reader skips but counts. Most files have
 * none, which a fast byte scan shows; otherwise the file is tokenized to tell empty lines from line
 * breaks inside quoted values.
 */
export async function emptyRowNumbers(input: FileInput, delimiter: string): Promise<number[]> {
  if (!(await hasAdjacentLineBreaks(input))) return [];
  const tokenizer = new CsvTokenizer(delimiter);
  const emptyRows: number[] = [];
  tokenizer.emptyRows = emptyRows;
  let rows: CsvRow[] = [];
  for await (const chunk of openText(input)) {
    tokenizer.push(chunk, rows);
    rows = [];
  }
  tokenizer.end(rows);
  // Empty lines before the header are refused earlier; after it, row N is DuckDB's line N + 1.
  return emptyRows;
}
