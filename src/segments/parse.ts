import {
  AGGREGATE_FNS,
  type AggregateFn,
  COMPARISON_OPS,
  type ComparisonOp,
  type Condition,
  type Duration,
  type EventSelector,
  type Literal,
  type Operand,
  type SegmentAst,
  type SequenceStep,
  segmentAstSchema,
  type TimePoint,
  type Window,
} from "./ast.ts";
import { definitionError, type Position, type Token, tokenize } from "./lexer.ts";
import { dateParts } from "./time.ts";

/** Where each AST object came from in the text, so later checks can name line and column. */
export type Spans = WeakMap<object, Position>;

export interface ParseOptions {
  /**
   * Event property paths of the schema: `sum(commerce.purchases.priceTotal)` splits into the event
   * type and the longest property path that is a known event field. Without them, the last name.
   */
  eventFields?: Iterable<string>;
}

export interface Parsed {
  ast: SegmentAst;
  spans: Spans;
}

const FUNCTIONS = [
  "age",
  "birthday",
  "count",
  "sum",
  "avg",
  "min",
  "max",
  "latest",
  "exists",
  "sequence",
  "inSegment",
];
const UNITS: Record<string, Duration["unit"]> = {
  minute: "minutes",
  minutes: "minutes",
  hour: "hours",
  hours: "hours",
  day: "days",
  days: "days",
  week: "weeks",
  weeks: "weeks",
};
const OPERATOR_HINT =
  "expected an operator: =, !=, <, <=, >, >=, in [...], not in [...], contains, startsWith, endsWith, matches, between, exists, is null, within, before, after";

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The closest candidate, when one is close enough to be what the user meant. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const score = levenshtein(lower, candidate.toLowerCase());
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function isValidDate(text: string): boolean {
  const [y, m, d] = dateParts(text);
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

class Parser {
  private readonly tokens: Token[];
  private index = 0;
  readonly spans: Spans = new WeakMap();
  private readonly eventFields: Set<string> | undefined;

  constructor(text: string, options: ParseOptions) {
    this.tokens = tokenize(text);
    this.eventFields = options.eventFields ? new Set(options.eventFields) : undefined;
  }

  private get peek(): Token {
    return this.lookahead(0);
  }
  /** The token list always ends with an eof token, returned for any position past the end. */
  private lookahead(n: number): Token {
    const token = this.tokens[Math.min(this.index + n, this.tokens.length - 1)];
    if (!token) throw new Error("token list without eof");
    return token;
  }
  private next(): Token {
    const token = this.peek;
    if (token.kind !== "eof") this.index++;
    return token;
  }
  private isWord(word: string, token = this.peek): boolean {
    return token.kind === "ident" && token.text === word;
  }
  private isPunct(p: string, token = this.peek): boolean {
    return token.kind === "punct" && token.text === p;
  }
  private describe(token: Token): string {
    return token.kind === "eof" ? "the end of the definition" : `'${token.text}'`;
  }
  private fail(token: Token, problem: string): never {
    throw definitionError(token, problem);
  }
  private expectPunct(p: string, context: string): Token {
    if (!this.isPunct(p))
      this.fail(this.peek, `expected '${p}' ${context}, found ${this.describe(this.peek)}`);
    return this.next();
  }
  private expectWord(word: string, context: string): Token {
    if (!this.isWord(word))
      this.fail(this.peek, `expected '${word}' ${context}, found ${this.describe(this.peek)}`);
    return this.next();
  }
  private mark<T extends object>(node: T, at: Position): T {
    this.spans.set(node, { line: at.line, column: at.column });
    return node;
  }

  parseSegment(): SegmentAst {
    const start = this.peek;
    let timezone: string | undefined;
    if (this.isWord("timezone") && this.lookahead(1).kind === "string") {
      this.next();
      timezone = this.parseString();
    }
    const condition = this.parseCondition();
    if (this.peek.kind !== "eof") {
      const hint = this.peek.kind === "ident" ? "; combine conditions with and / or" : "";
      this.fail(this.peek, `unexpected ${this.describe(this.peek)} after a complete condition${hint}`);
    }
    return this.mark(timezone ? { version: 1, timezone, condition } : { version: 1, condition }, start);
  }

  private parseCondition(): Condition {
    const start = this.peek;
    const first = this.parseAnd();
    if (!this.isWord("or")) return first;
    const conditions = [first];
    while (this.isWord("or")) {
      this.next();
      conditions.push(this.parseAnd());
    }
    return this.mark({ kind: "or", conditions }, start);
  }

  private parseAnd(): Condition {
    const start = this.peek;
    const first = this.parseNot();
    if (!this.isWord("and")) return first;
    const conditions = [first];
    while (this.isWord("and")) {
      this.next();
      conditions.push(this.parseNot());
    }
    return this.mark({ kind: "and", conditions }, start);
  }

  private parseNot(): Condition {
    const start = this.peek;
    if (this.isWord("not")) {
      this.next();
      return this.mark({ kind: "not", condition: this.parseNot() }, start);
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Condition {
    const start = this.peek;
    if (this.isPunct("(")) {
      this.next();
      const inner = this.parseCondition();
      this.expectPunct(")", "to close the parenthesis");
      return inner;
    }
    const call = this.isPunct("(", this.lookahead(1)) ? start.text : undefined;
    if (start.kind === "ident" && call === "inSegment") {
      this.next();
      this.next();
      const idToken = this.peek;
      if (idToken.kind !== "string")
        this.fail(idToken, 'inSegment takes a segment id in double quotes: inSegment("vip")');
      const segment = this.parseString();
      this.expectPunct(")", "after the segment id");
      return this.mark({ kind: "inSegment", segment }, start);
    }
    if (start.kind === "ident" && call === "exists") {
      this.next();
      this.next();
      const event = this.parseEventSelector(false).event;
      this.expectPunct(")", "to close exists(...)");
      return this.mark({ kind: "eventExists", event }, start);
    }
    if (start.kind === "ident" && call === "sequence") return this.parseSequence();
    if (this.isWord("exists") && this.lookahead(1).kind === "ident") {
      this.next();
      const event = this.parseEventSelector(false, false, true).event;
      return this.mark({ kind: "eventExists", event }, start);
    }
    if (!call && this.pathFollowedBy(["where", "then"])) return this.parseSequenceSteps(start, true);
    if (start.kind === "ident" && call === "birthday") {
      this.next();
      this.next();
      const path = this.parsePath().path;
      this.expectPunct(")", "after the date field");
      this.expectWord("within", "after birthday(...): birthday(person.birthDate) within next 7 days");
      this.expectWord("next", "after 'birthday(...) within'");
      const days = this.parseDuration();
      if (days.unit !== "days" && days.unit !== "weeks")
        this.fail(start, "birthday windows are counted in days or weeks");
      return this.mark(
        { kind: "birthday", path, days: days.unit === "weeks" ? days.amount * 7 : days.amount },
        start,
      );
    }
    if (start.kind !== "ident") {
      this.fail(
        start,
        `expected a condition (a field, a function such as count(...), 'not' or '('), found ${this.describe(start)}`,
      );
    }
    const operand = this.parseOperand();
    return this.parsePredicate(operand, start);
  }

  private parseSequence(): Condition {
    const start = this.next();
    this.next();
    const sequence = this.parseSequenceSteps(start, false);
    this.expectPunct(")", "to close sequence(...)");
    return sequence;
  }

  /** Steps joined by `then` / `then not`, and the optional span `within N days`. */
  private parseSequenceSteps(start: Token, bare: boolean): Condition {
    const steps: SequenceStep[] = [];
    steps.push({ event: this.parseEventSelector(false, true, bare).event, negated: false });
    while (this.isWord("then")) {
      this.next();
      let negated = false;
      if (this.isWord("not")) {
        this.next();
        negated = true;
      }
      steps.push({ event: this.parseEventSelector(false, true, bare).event, negated });
    }
    if (steps.length < 2) {
      this.fail(
        bare ? start : this.peek,
        bare
          ? "an event needs a function: exists(...), count(...), latest(...), or a sequence with 'then'"
          : "a sequence needs at least two steps joined by 'then'",
      );
    }
    let within: Duration | undefined;
    if (this.isWord("within")) {
      this.next();
      within = this.parseDuration();
    }
    return this.mark(within ? { kind: "sequence", steps, within } : { kind: "sequence", steps }, start);
  }

  /** Whether a dotted path starts here and is followed by one of `words`. */
  private pathFollowedBy(words: string[]): boolean {
    let i = 0;
    if (this.lookahead(0).kind !== "ident") return false;
    while (this.isPunct(".", this.lookahead(i + 1)) && this.lookahead(i + 2).kind === "ident") i += 2;
    const after = this.lookahead(i + 1);
    return after.kind === "ident" && words.includes(after.text);
  }

  private parseOperand(): Operand {
    const start = this.peek;
    const call = this.isPunct("(", this.lookahead(1)) ? start.text : undefined;
    if (call === "age") {
      this.next();
      this.next();
      const path = this.parsePath().path;
      this.expectPunct(")", "after the date field");
      return this.mark({ kind: "age", path }, start);
    }
    if (call && (AGGREGATE_FNS as readonly string[]).includes(call)) {
      this.next();
      this.next();
      const fn = call as AggregateFn;
      const { event, property } = this.parseEventSelector(fn !== "count");
      this.expectPunct(")", `to close ${fn}(...)`);
      const operand: Operand = property
        ? { kind: "aggregate", fn, event, property }
        : { kind: "aggregate", fn, event };
      return this.mark(operand, start);
    }
    if (call === "latest") {
      this.next();
      this.next();
      const { event, property } = this.parseEventSelector(true);
      this.expectPunct(")", "to close latest(...)");
      return this.mark({ kind: "latest", event, property: property ?? "" }, start);
    }
    if (call) {
      const suggestion =
        [...FUNCTIONS].find((f) => f.toLowerCase() === call.toLowerCase()) ?? closest(call, FUNCTIONS);
      this.fail(start, `unknown function '${call}'${suggestion ? `; did you mean ${suggestion}(...)?` : ""}`);
    }
    const { path } = this.parsePath();
    return this.mark({ kind: "field", path }, start);
  }

  private parsePath(): { path: string; start: Token } {
    const start = this.peek;
    if (start.kind !== "ident") this.fail(start, `expected a field name, found ${this.describe(start)}`);
    const parts = [this.next().text];
    while (this.isPunct(".")) {
      this.next();
      const part = this.peek;
      if (part.kind !== "ident") this.fail(part, `expected a name after '.', found ${this.describe(part)}`);
      parts.push(this.next().text);
    }
    return { path: parts.join("."), start };
  }

  /**
   * `type [where condition] [window]`; with a property, `type.property ...`. In the forms written
   * without parentheses (`exists web.pageView where ...`, bare sequences) `where` takes a single
   * condition, so a following `and` belongs to the enclosing condition; group with parentheses.
   */
  private parseEventSelector(
    withProperty: boolean,
    inSequence = false,
    bare = false,
  ): { event: EventSelector; property?: string } {
    const { path, start } = this.parsePath();
    let type = path;
    let property: string | undefined;
    if (withProperty) {
      const parts = path.split(".");
      if (parts.length < 2)
        this.fail(
          start,
          `expected event type and property, e.g. commerce.purchases.priceTotal, found '${path}'`,
        );
      let split = parts.length - 1;
      if (this.eventFields) {
        for (let i = 1; i < parts.length; i++) {
          if (this.eventFields.has(parts.slice(i).join("."))) {
            split = i;
            break;
          }
        }
      }
      type = parts.slice(0, split).join(".");
      property = parts.slice(split).join(".");
    }
    const event: EventSelector = { type };
    if (this.isWord("where")) {
      this.next();
      event.where = bare ? this.parseNot() : this.parseCondition();
    }
    // In a sequence, `within 7 days` is the sequence's span, not a step's window.
    const windowAhead =
      this.isWord("before") ||
      this.isWord("after") ||
      (this.isWord("within") && !(inSequence && this.lookahead(1).kind === "number"));
    if (windowAhead) event.window = this.parseWindow();
    this.mark(event, start);
    return property !== undefined ? { event, property } : { event };
  }

  private parseWindow(): Window {
    const start = this.next();
    if (start.text === "before" || start.text === "after") {
      const at = this.parseTimePoint();
      return this.mark({ kind: start.text, at }, start);
    }
    const word = this.peek;
    if (this.isWord("last") && this.isWord("month", this.lookahead(1))) {
      this.next();
      this.next();
      return this.mark({ kind: "calendar", period: "lastMonth" }, start);
    }
    if (this.isWord("last") || this.isWord("next")) {
      this.next();
      return this.mark(
        { kind: word.text === "last" ? "last" : "next", duration: this.parseDuration() },
        start,
      );
    }
    if (this.isWord("today") || this.isWord("yesterday")) {
      this.next();
      return this.mark({ kind: "calendar", period: word.text === "today" ? "today" : "yesterday" }, start);
    }
    if (this.isWord("this")) {
      this.next();
      const unit = this.peek;
      if (this.isWord("month") || this.isWord("year")) {
        this.next();
        return this.mark(
          { kind: "calendar", period: unit.text === "month" ? "thisMonth" : "thisYear" },
          start,
        );
      }
      this.fail(unit, `expected 'month' or 'year' after 'this', found ${this.describe(unit)}`);
    }
    return this.fail(
      word,
      `expected a window after 'within' (last 30 days, next 7 days, today, yesterday, this month, last month, this year), found ${this.describe(word)}`,
    );
  }

  private parseTimePoint(): TimePoint {
    const token = this.peek;
    if (this.isWord("today") || this.isWord("now")) {
      this.next();
      return token.text === "today" ? { type: "today" } : { type: "now" };
    }
    if (token.kind === "date" || token.kind === "timestamp") {
      const literal = this.parseLiteral();
      if (literal.type === "date" || literal.type === "timestamp") return literal;
    }
    return this.fail(
      token,
      `expected a date (2026-01-31), a timestamp (2026-01-31T10:00:00Z), today or now, found ${this.describe(token)}`,
    );
  }

  private parseDuration(): Duration {
    const amountToken = this.peek;
    if (amountToken.kind !== "number" || !/^\d+$/.test(amountToken.text)) {
      this.fail(
        amountToken,
        `expected a whole number of minutes, hours, days or weeks, found ${this.describe(amountToken)}`,
      );
    }
    this.next();
    const unitToken = this.peek;
    const unit = unitToken.kind === "ident" ? UNITS[unitToken.text] : undefined;
    if (!unit) {
      const guess = unitToken.kind === "ident" ? closest(unitToken.text, Object.keys(UNITS)) : undefined;
      const months = unitToken.text.startsWith("month") || unitToken.text.startsWith("year");
      this.fail(
        unitToken,
        months
          ? "rolling windows are counted in minutes, hours, days or weeks (months and years vary in length; use 'this month' or a number of days)"
          : `expected minutes, hours, days or weeks, found ${this.describe(unitToken)}${guess ? `; did you mean ${guess}?` : ""}`,
      );
    }
    this.next();
    return { amount: Number(amountToken.text), unit };
  }

  private parseString(): string {
    const token = this.next();
    return JSON.parse(token.text) as string;
  }

  private parseLiteral(): Literal {
    const token = this.peek;
    switch (token.kind) {
      case "string":
        return this.mark({ type: "string", value: this.parseString() }, token);
      case "number":
        this.next();
        return this.mark({ type: "number", value: Number(token.text) }, token);
      case "date":
        if (!isValidDate(token.text)) this.fail(token, `${token.text} is not a calendar date`);
        this.next();
        return this.mark({ type: "date", value: token.text }, token);
      case "timestamp": {
        const time = new Date(token.text);
        if (Number.isNaN(time.getTime()) || !isValidDate(token.text.slice(0, 10)))
          this.fail(token, `${token.text} is not a valid timestamp`);
        this.next();
        return this.mark({ type: "timestamp", value: time.toISOString() }, token);
      }
      case "ident":
        if (token.text === "true" || token.text === "false") {
          this.next();
          return this.mark({ type: "boolean", value: token.text === "true" }, token);
        }
        if (token.text === "null") this.fail(token, "compare with null using 'is null' or 'exists'");
        return this.fail(
          token,
          `expected a value, found '${token.text}'; strings are written in double quotes`,
        );
      case "punct":
      case "eof":
        return this.fail(
          token,
          `expected a value (a "string", a number, true/false, a date or a timestamp), found ${this.describe(token)}`,
        );
    }
  }

  private parseList(): Literal[] {
    this.expectPunct("[", "to start the list of values");
    const values: Literal[] = [this.parseLiteral()];
    while (this.isPunct(",")) {
      this.next();
      values.push(this.parseLiteral());
    }
    this.expectPunct("]", "to close the list of values");
    return values;
  }

  private ignoringCase(): { ignoreCase?: boolean } {
    if (!this.isWord("ignoring")) return {};
    this.next();
    this.expectWord("case", "after 'ignoring'");
    return { ignoreCase: true };
  }

  private parsePredicate(operand: Operand, start: Token): Condition {
    const token = this.peek;
    const mark = (c: Condition) => this.mark(c, start);
    if (token.kind === "punct" && (COMPARISON_OPS as readonly string[]).includes(token.text)) {
      this.next();
      const value = this.parseLiteral();
      return mark({
        kind: "compare",
        operand,
        op: token.text as ComparisonOp,
        value,
        ...this.ignoringCase(),
      });
    }
    if (token.kind !== "ident") this.fail(token, `${OPERATOR_HINT}; found ${this.describe(token)}`);
    switch (token.text) {
      case "in":
        this.next();
        return mark({
          kind: "in",
          operand,
          values: this.parseList(),
          negated: false,
          ...this.ignoringCase(),
        });
      case "not":
        this.next();
        this.expectWord("in", "after 'not' (write 'not in [...]', or put 'not' before the condition)");
        return mark({ kind: "in", operand, values: this.parseList(), negated: true, ...this.ignoringCase() });
      case "contains":
      case "startsWith":
      case "endsWith": {
        this.next();
        const value = this.peek;
        if (value.kind !== "string") this.fail(value, `${token.text} takes a string in double quotes`);
        return mark({
          kind: "text",
          operand,
          op: token.text,
          value: this.parseString(),
          ...this.ignoringCase(),
        });
      }
      case "matches": {
        this.next();
        const value = this.peek;
        if (value.kind !== "string")
          this.fail(value, 'matches takes a regular expression in double quotes: matches "^[0-9]+$"');
        return mark({ kind: "matches", operand, pattern: this.parseString(), ...this.ignoringCase() });
      }
      case "between": {
        this.next();
        const low = this.parseLiteral();
        this.expectWord("and", "between the two bounds of 'between'");
        const high = this.parseLiteral();
        return mark({ kind: "between", operand, low, high });
      }
      case "exists":
        this.next();
        return mark({ kind: "exists", operand });
      case "is": {
        this.next();
        const negated = this.isWord("not");
        if (negated) this.next();
        this.expectWord("null", negated ? "after 'is not'" : "after 'is'");
        return mark(negated ? { kind: "exists", operand } : { kind: "isNull", operand });
      }
      case "within":
      case "before":
      case "after":
        return mark({ kind: "inWindow", operand, window: this.parseWindow() });
      default: {
        const guess = closest(token.text, [
          "in",
          "contains",
          "startsWith",
          "endsWith",
          "matches",
          "between",
          "exists",
          "within",
          "before",
          "after",
        ]);
        return this.fail(
          token,
          `${OPERATOR_HINT}; found '${token.text}'${guess ? ` (did you mean ${guess}?)` : ""}`,
        );
      }
    }
  }
}

/** The position of the innermost node with a span on `path` from the root. */
function spanOnPath(root: object, path: readonly PropertyKey[], spans: Spans): Position | undefined {
  let node: unknown = root;
  let at = spans.get(root);
  for (const key of path) {
    if (typeof node !== "object" || node === null) break;
    node = Reflect.get(node, key);
    if (typeof node === "object" && node !== null) at = spans.get(node) ?? at;
  }
  return at;
}

/**
 * Text → AST. Throws a validation HeraldError naming line, column and the problem. The AST is held
 * to the schema's limits as one given as JSON is (list lengths, finite numbers, names): every load
 * parses stored ASTs with that schema, so text must not save what it refuses.
 */
export function parseSegment(text: string, options: ParseOptions = {}): Parsed {
  const parser = new Parser(text, options);
  const ast = parser.parseSegment();
  const checked = segmentAstSchema.safeParse(ast);
  const [issue] = checked.error?.issues ?? [];
  if (issue) {
    throw definitionError(
      spanOnPath(ast, issue.path, parser.spans),
      `${issue.path.join(".")}: ${issue.message}`,
    );
  }
  return { ast, spans: parser.spans };
}
