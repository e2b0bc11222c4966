/** One line of a newline-delimited body: its text, or only its size when it was over the limit. */
export type NdjsonLine = { text: string } | { tooLongBytes: number };

/**
 * Splits a body into lines, holding at most `maxLineBytes` of one line in memory: a longer line is
 * skipped to its end and reported by size, so that it costs neither the process's memory nor the
 * lines after it (readline keeps a line whole, however long). Lines are decoded as UTF-8 once
 * complete; the newline byte never occurs inside a multi-byte character.
 */
export async function* ndjsonLines(
  body: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  maxLineBytes: number,
): AsyncGenerator<NdjsonLine> {
  let pieces: Buffer[] = [];
  let length = 0;
  let overflowed = false;
  const take = (): NdjsonLine => {
    const line: NdjsonLine = overflowed
      ? { tooLongBytes: length }
      : { text: Buffer.concat(pieces, length).toString("utf8") };
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
