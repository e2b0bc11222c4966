import { isUtf8 } from "node:buffer";

/**
 * One line of a newline-delimited body: its text, only its size when it was over the limit, or
 * `notUtf8` when its bytes are not UTF-8 (rather than text holding U+FFFD in their place).
 */
export type NdjsonLine = { text: string } | { tooLongBytes: number } | { notUtf8: true };

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Splits a body into lines, holding at most `maxLineBytes` of one line in memory: a longer line is
 * skipped to its end and reported by size, so that it costs neither the process's memory nor the
 * lines after it (readline keeps a line whole, however long). Lines are decoded as UTF-8 once
 * complete; the newline byte never occurs inside a multi-byte character. A byte-order mark
 * starting the body is dropped.
 */
export async function* ndjsonLines(
  body: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  maxLineBytes: number,
): AsyncGenerator<NdjsonLine> {
  let pieces: Buffer[] = [];
  let length = 0;
  let overflowed = false;
  let first = true;
  const take = (): NdjsonLine => {
    let line: NdjsonLine = { tooLongBytes: length };
    if (!overflowed) {
      let bytes = Buffer.concat(pieces, length);
      if (first && bytes.subarray(0, 3).equals(BOM)) bytes = bytes.subarray(3);
      line = isUtf8(bytes) ? { text: bytes.toString("utf8") } : { notUtf8: true };
    }
    first = false;
    pieces = [];
    length = 0;
    overflowed = false;
    return line;
  };
  const add = (piece: Buffer) => {
    length += piece.length;
    if (length > maxLineBytes) {
      overflowed = true;
      pieces = [];
    }
    if (!overflowed && piece.length) pieces.push(piece);
  };
  for await (const chunk of body) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    let start = 0;
    for (let end = buffer.indexOf(10, start); end !== -1; end = buffer.indexOf(10, start)) {
      add(buffer.subarray(start, end));
      yield take();
      start = end + 1;
    }
    add(buffer.subarray(start));
  }
  if (length > 0 || overflowed) yield take();
}
