import { validationError } from "../errors/index.ts";

export type TokenKind = "ident" | "string" | "number" | "date" | "timestamp" | "punct" | "eof";

export interface Token {
  kind: TokenKind;
  text: string;
  line: number;
  column: number;
  offset: number;
}

export interface Position {
  line: number;
  column: number;
}

/** A definition error at a place in the text: `line 2, column 7: <problem>`. */
export function definitionError(at: Position | undefined, problem: string) {
  const message = at ? `line ${at.line}, column ${at.column}: ${problem}` : problem;
  return validationError(
    `Invalid segment definition: ${message}`,
    [{ field: "definition", message }],
    "invalid_segment",
  );
}

const PUNCT = ["!=", "<=", ">=", "=", "<", ">", "(", ")", "[", "]", ",", "."];
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})/;
const DATE = /^\d{4}-\d{2}-\d{2}/;
const NUMBER = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const STRING = /^"(?:[^"\\\n]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/;

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let offset = 0;
  let line = 1;
  let lineStart = 0;
  while (offset < text.length) {
    const ch = text[offset];
    if (ch === "\n") {
      offset++;
      line++;
      lineStart = offset;
      continue;
    }
    if (ch === " " || ch === "\t" || ch === "\r") {
      offset++;
      continue;
    }
    if (ch === "#") {
      // Comment to the end of the line.
      while (offset < text.length && text[offset] !== "\n") offset++;
      continue;
    }
    const rest = text.slice(offset, offset + 2000);
    const at = { line, column: offset - lineStart + 1, offset };
    const push = (kind: TokenKind, value: string) => {
      tokens.push({ kind, text: value, ...at });
      offset += value.length;
    };
    const matched = (kind: TokenKind, pattern: RegExp): boolean => {
      const m = pattern.exec(rest);
      if (m) push(kind, m[0]);
      return m !== null;
    };
    if (ch === '"') {
      if (!matched("string", STRING)) {
        throw definitionError(
          at,
          'unterminated or invalid string: strings are written in double quotes, with \\" for a quote',
        );
      }
      continue;
    }
    if (
      matched("timestamp", TIMESTAMP) ||
      matched("date", DATE) ||
      matched("number", NUMBER) ||
      matched("ident", IDENT)
    )
      continue;
    const p = PUNCT.find((candidate) => rest.startsWith(candidate));
    if (!p) {
      const hint =
        ch === "'" ? "; strings use double quotes" : ch === "&" || ch === "|" ? "; write and / or" : "";
      throw definitionError(at, `unexpected character '${ch}'${hint}`);
    }
    push("punct", p);
  }
  tokens.push({ kind: "eof", text: "", line, column: offset - lineStart + 1, offset });
  return tokens;
}
