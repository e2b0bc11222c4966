/**
 * Splits a stream of delimited records (CSV or JSON Lines, as the engine wrote them) into files of
 * at most `maxRows` records each, exactly, with the header line repeated at the top of every file.
 * A newline inside a quoted CSV field does not end a record: quote state is tracked across chunks,
 * with the escape character honoured when it differs from the quote.
 */
export interface SplitOptions {
  maxRows: number;
  header: boolean;
  /** Quote and escape characters for CSV; empty for JSON Lines or unquoted CSV. */
  quote: string;
  escape: string;
}

const NEWLINE = 0x0a;

export class RowSplitter {
  private readonly quote: number;
  private readonly escape: number;
  private inQuote = false;
  private escaped = false;
  private pending: Buffer | undefined;
  private headerLine: Buffer | undefined;
  private finished = false;
  private readonly iterator: AsyncIterator<Buffer>;
  private readonly options: SplitOptions;

  constructor(source: AsyncIterable<Buffer>, options: SplitOptions) {
    this.iterator = source[Symbol.asyncIterator]();
    this.options = options;
    this.quote = options.quote ? options.quote.charCodeAt(0) : -1;
    this.escape = options.escape && options.escape !== options.quote ? options.escape.charCodeAt(0) : -1;
  }

  /** The header line (with its newline), once the first file has started. */
  get header(): Buffer | undefined {
    return this.headerLine;
  }

  private async nextChunk(): Promise<Buffer | undefined> {
    if (this.pending) {
      const chunk = this.pending;
      this.pending = undefined;
      return chunk;
    }
    if (this.finished) return undefined;
    const next = await this.iterator.next();
    if (next.done) {
      this.finished = true;
      return undefined;
    }
    return next.value;
  }

  /** Whether any record bytes remain for another file. */
  async hasMore(): Promise<boolean> {
    const chunk = await this.nextChunk();
    if (!chunk) return false;
    this.pending = chunk;
    return true;
  }

  /** Position just after the `wanted`-th record end in `chunk`, or -1 with the count seen. */
  private scan(chunk: Buffer, wanted: number): { cut: number; rows: number } {
    let rows = 0;
    // Fast path: no quote character in this chunk and not inside a quoted field.
    if (!this.inQuote && (this.quote < 0 || chunk.indexOf(this.quote) < 0)) {
      let at = chunk.indexOf(NEWLINE);
      while (at >= 0) {
        rows++;
        if (rows === wanted) return { cut: at + 1, rows };
        at = chunk.indexOf(NEWLINE, at + 1);
      }
      return { cut: -1, rows };
    }
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (this.escaped) {
        this.escaped = false;
      } else if (this.inQuote && byte === this.escape) {
        this.escaped = true;
      } else if (byte === this.quote) {
        this.inQuote = !this.inQuote;
      } else if (byte === NEWLINE && !this.inQuote) {
        rows++;
        if (rows === wanted) return { cut: i + 1, rows };
      }
    }
    return { cut: -1, rows };
  }

  private async readHeader(): Promise<void> {
    const parts: Buffer[] = [];
    for (let chunk = await this.nextChunk(); chunk; chunk = await this.nextChunk()) {
      const { cut } = this.scan(chunk, 1);
      if (cut >= 0) {
        parts.push(chunk.subarray(0, cut));
        if (cut < chunk.length) this.pending = chunk.subarray(cut);
        break;
      }
      parts.push(chunk);
    }
    this.headerLine = Buffer.concat(parts);
  }

  /**
   * The next file's bytes: the header, then up to `maxRows` records. Call `hasMore()` first; the
   * returned iterable must be consumed before asking for the next file. `onRows` reports progress.
   */
  async *nextFile(onRows?: (rows: number) => void): AsyncGenerator<Buffer> {
    if (this.options.header && !this.headerLine) await this.readHeader();
    if (this.headerLine?.length) yield this.headerLine;
    let remaining = this.options.maxRows;
    while (remaining > 0) {
      const chunk = await this.nextChunk();
      if (!chunk) return;
      const { cut, rows } = this.scan(chunk, remaining);
      if (cut < 0) {
        remaining -= rows;
        onRows?.(rows);
        yield chunk;
        continue;
      }
      remaining -= rows;
      onRows?.(rows);
      yield chunk.subarray(0, cut);
      if (cut < chunk.length) this.pending = chunk.subarray(cut);
    }
  }
}
