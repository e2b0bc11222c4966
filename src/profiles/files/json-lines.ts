import { MAX_ROW_CHARS } from "./csv-tokenizer.ts";
import { type FileInput, openText } from "./input.ts";
import type { NumberedRecord } from "./load-rows.ts";

const BATCH_LINES = 10_000;

function parseLine(text: string, line: number): NumberedRecord | undefined {
  if (text.trim() === "") return undefined;
  try {
    return { row: line, record: JSON.parse(text) };
  } catch (error) {
    return { row: line, issues: [{ row: line, message: `malformed JSON: ${(error as Error).message}` }] };
  }
}

/**
 * Streams a JSON Lines file as numbered records: `row` is the 1-based line number; blank lines are
 * skipped (and counted); a line that is not JSON is reported, the others are read.
 */
export async function* readJsonLines(input: FileInput): AsyncGenerator<NumberedRecord[]> {
  let partial = "";
  let tooLong = false;
  let line = 0;
  let batch: NumberedRecord[] = [];
  const take = (text: string) => {
    line++;
    if (tooLong) {
      batch.push({
        row: line,
        issues: [{ row: line, message: `the line is longer than ${MAX_ROW_CHARS} characters` }],
      });
      tooLong = false;
      return;
    }
    const record = parseLine(text, line);
    if (record) batch.push(record);
  };
  for await (const chunk of openText(input)) {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf("\n", start);
      if (end < 0) break;
      const piece = chunk.slice(start, end);
      take(partial ? partial + piece : piece);
      partial = "";
      start = end + 1;
    }
    if (start < chunk.length && !tooLong) {
      partial += chunk.slice(start);
      if (partial.length > MAX_ROW_CHARS) {
        partial = "";
        tooLong = true;
      }
    }
    if (batch.length >= BATCH_LINES) {
      yield batch;
      batch = [];
    }
  }
  if (partial || tooLong) take(partial);
  if (batch.length) yield batch;
}
