/** One CSV row: its cells, or why it cannot be read. `row` 1 is the first row after the header. */
export type CsvRow = { row: number; cells: string[] } | { row: number; error: string };

/** Rows longer than this are rejected: a runaway quote cannot make the reader hold a whole file. */
export const MAX_ROW_CHARS = 8 * 1024 * 1024;

// DuckDB reports both an unclosed quote and text after a closing quote as one kind of error.
const UNCLOSED = "malformed CSV: a quoted value is not closed, or text follows its closing quote";
const LF = 10;
const CR = 13;
const SPACE = 32;

const State = {
  FieldStart: 0,
  Unquoted: 1,
  Quoted: 2,
  /** A quote inside a quoted value: the end of the value, or the first half of `""`. */
  QuoteInQuoted: 3,
  /** Spaces after a closing quote, before the delimiter. */
  AfterClosingQuote: 4,
  /** Text after a closing quote: the row is malformed; skip to the end of the line. */
  SkipToLineEnd: 5,
} as const;
type State = (typeof State)[keyof typeof State];

/**
 * A streaming RFC 4180 reader that numbers rows the way DuckDB's `read_csv` does, so both ingestion
 * paths report the same row numbers and reject the same rows:
 * - a row ends at a line break (LF, CRLF or CR) outside quotes; quoted values may hold delimiters,
 *   line breaks and doubled quotes (`""`);
 * - empty lines are skipped but counted, so row N is line N+1 of a file without multi-line values;
 * - a quote opens a quoted value only at the start of a value (spaces before it are dropped);
 *   elsewhere it is an ordinary character;
 * - text after a closing quote, or a quote left open at the end of the file, rejects the row;
 * - a row with a different number of cells than the header is rejected (one empty cell after a
 *   trailing delimiter is tolerated, as DuckDB does).
 * The first row is the header and is returned by `header`.
 */
export class CsvTokenizer {
  private readonly delimiter: number;
  private readonly quote: number;
  private state: State = State.FieldStart;
  private field = "";
  private fieldOnlySpaces = true;
  private fieldQuoted = false;
  private lastFieldQuoted = false;
  private cells: string[] = [];
  private rowChars = 0;
  private tooLong = false;
  private pendingCR = false;
  private rowNumber = 0;
  header: string[] | undefined;
  /** Empty lines before the header: DuckDB would take the first one as the header, so it is refused. */
  linesBeforeHeader = 0;
  /** When set, the numbers of the empty (skipped) rows are collected here. */
  emptyRows: number[] | undefined;

  constructor(delimiter: string, quote = '"') {
    if ([...delimiter].length !== 1) throw new Error("the CSV delimiter must be a single character");
    this.delimiter = delimiter.charCodeAt(0);
    this.quote = quote.charCodeAt(0);
  }

  /** Feeds decoded text; complete rows are appended to `out`. */
  push(text: string, out: CsvRow[]): void {
    const n = text.length;
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (n > 0 && text.charCodeAt(0) === LF) i = 1;
    }
    const D = this.delimiter;
    const Q = this.quote;
    while (i < n) {
      switch (this.state) {
        case State.FieldStart:
        case State.Unquoted: {
          let j = i;
          let c = 0;
          for (; j < n; j++) {
            c = text.charCodeAt(j);
            if (c === D || c === LF || c === CR) break;
            if (c === Q && this.fieldOnlySpaces) break;
            if (c !== SPACE) this.fieldOnlySpaces = false;
          }
          this.append(text, i, j);
          if (j === n) {
            if (j > i) this.state = State.Unquoted;
            i = j;
            break;
          }
          if (c === Q) {
            // Spaces before an opening quote are dropped, as DuckDB does.
            this.field = "";
            this.fieldQuoted = true;
            this.state = State.Quoted;
            i = j + 1;
          } else if (c === D) {
            this.endField();
            i = j + 1;
          } else {
            i = this.endLine(text, j, out);
          }
          break;
        }
        case State.Quoted: {
          const j = text.indexOf(String.fromCharCode(Q), i);
          if (j < 0) {
            this.append(text, i, n);
            i = n;
          } else {
            this.append(text, i, j);
            this.state = State.QuoteInQuoted;
            i = j + 1;
          }
          break;
        }
        case State.QuoteInQuoted: {
          const c = text.charCodeAt(i);
          if (c === Q) {
            this.append(text, i, i + 1);
            this.state = State.Quoted;
            i++;
          } else {
            this.state = State.AfterClosingQuote;
          }
          break;
        }
        case State.AfterClosingQuote: {
          const c = text.charCodeAt(i);
          if (c === SPACE) i++;
          else if (c === D) {
            this.endField();
            i++;
          } else if (c === LF || c === CR) {
            i = this.endLine(text, i, out);
          } else {
            this.state = State.SkipToLineEnd;
          }
          break;
        }
        case State.SkipToLineEnd: {
          let j = i;
          for (; j < n; j++) {
            const c = text.charCodeAt(j);
            if (c === LF || c === CR) break;
          }
          if (j === n) i = n;
          else i = this.endLine(text, j, out);
          break;
        }
      }
    }
  }

  /** Ends the input: the last row may lack a final line break; an open quote rejects its row. */
  end(out: CsvRow[]): void {
    if (this.state === State.Quoted) {
      this.emitError(out, UNCLOSED);
    } else if (this.state === State.SkipToLineEnd) {
      this.emitError(out, UNCLOSED);
    } else if (this.state !== State.FieldStart || this.cells.length > 0 || this.rowChars > 0) {
      this.endField();
      this.emitRow(out);
    }
    this.reset();
  }

  private append(text: string, from: number, to: number) {
    if (to <= from) return;
    this.rowChars += to - from;
    if (this.rowChars > MAX_ROW_CHARS) {
      this.tooLong = true;
      this.field = "";
      return;
    }
    this.field += from === 0 && to === text.length ? text : text.slice(from, to);
  }

  private endField() {
    this.cells.push(this.field);
    this.lastFieldQuoted = this.fieldQuoted;
    this.field = "";
    this.fieldOnlySpaces = true;
    this.fieldQuoted = false;
    this.state = State.FieldStart;
  }

  /** Handles the line break at `at`; returns the index after it. */
  private endLine(text: string, at: number, out: CsvRow[]): number {
    let next = at + 1;
    if (text.charCodeAt(at) === CR) {
      if (next < text.length) {
        if (text.charCodeAt(next) === LF) next++;
      } else this.pendingCR = true;
    }
    if (this.state === State.SkipToLineEnd) {
      this.emitError(out, UNCLOSED);
    } else if (this.state === State.FieldStart && this.cells.length === 0 && this.rowChars === 0) {
      // An empty line: counted, not read.
      this.emptyRows?.push(this.rowNumber);
      this.rowNumber++;
    } else {
      this.endField();
      this.emitRow(out);
    }
    this.reset();
    return next;
  }

  private emitRow(out: CsvRow[]) {
    const row = this.rowNumber++;
    const cells = this.cells;
    if (this.tooLong) {
      out.push({ row, error: `malformed CSV: the row is longer than ${MAX_ROW_CHARS} characters` });
      return;
    }
    if (!this.header) {
      this.header = cells;
      this.linesBeforeHeader = row;
      return;
    }
    const expected = this.header.length;
    if (cells.length === expected + 1 && cells[expected] === "" && !this.lastFieldQuoted) cells.pop();
    if (cells.length !== expected) {
      out.push({
        row,
        error:
          cells.length < expected
            ? `malformed CSV: expected ${expected} columns, found ${cells.length}`
            : `malformed CSV: more than ${expected} columns`,
      });
      return;
    }
    out.push({ row, cells });
  }

  private emitError(out: CsvRow[], error: string) {
    const row = this.rowNumber++;
    if (!this.header) throw new Error(`The CSV header cannot be read: ${error}`);
    out.push({ row, error });
  }

  private reset() {
    this.cells = [];
    this.field = "";
    this.fieldOnlySpaces = true;
    this.fieldQuoted = false;
    this.rowChars = 0;
    this.tooLong = false;
    this.state = State.FieldStart;
  }
}
