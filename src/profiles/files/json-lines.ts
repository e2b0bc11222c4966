import { MAX_ROW_CHARS } from "./csv-tokenizer.ts";
import { type FileInput, hasInvalidUtf8, openTextNoting } from "./input.ts";
import type { NumberedRecord } from "./load-rows.ts";

const BATCH_LINES = 10_000;

function parseLine(text: string, line: number): NumberedRecord | undefined {
  if (text.trim() === "") return undefined;
  if (hasInvalidUtf8(text)) return { row: line, issues: [{ row: line, message: "not UTF-8" }] };
  try {
    return { row: line, record: JSON.parse(text) };
  } catch (error) {
    return { row: line, issues: [{ row: line, message: `malformed JSON: ${(error as Error).message}` }] };
  }
}

/**
 * Streams a JSON Lines file as numbered records: `row` is the 1-based line number; blank lines are
 * skipped (and counted); a line that is not JSON or not UTF-8 is reported, the others are read. A
 * damaged gzip stream fails naming the last whole line read.
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
  try {
    for await (const chunk of openTextNoting(input, () => `line ${line}`)) {
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
  } catch (error) {
    // The whole lines read before the damage are stored; the loader reports how many.
    if (batch.length) yield batch;
    throw error;
  }
  if (partial || tooLong) take(partial);
  if (batch.length) yield batch;
}
