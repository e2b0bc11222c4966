import { assertNever } from "../errors/index.ts";
import type {
  Condition,
  Duration,
  EventSelector,
  Literal,
  Operand,
  SegmentAst,
  TimePoint,
  Window,
} from "./ast.ts";

/** AST → text, in the canonical form `parseSegment` reads back to the same AST. */
export function printSegment(ast: SegmentAst): string {
  const body = printCondition(ast.condition);
  return ast.timezone ? `timezone ${JSON.stringify(ast.timezone)}\n${body}` : body;
}

export function printLiteral(literal: Literal): string {
  switch (literal.type) {
    case "string":
      return JSON.stringify(literal.value);
    case "number":
      return String(literal.value);
    case "boolean":
      return String(literal.value);
    case "date":
    case "timestamp":
      return literal.value;
    default:
      return assertNever(literal, "literal");
  }
}

function printDuration(d: Duration): string {
  return `${d.amount} ${d.amount === 1 ? d.unit.slice(0, -1) : d.unit}`;
}

function printTimePoint(point: TimePoint): string {
  switch (point.type) {
    case "date":
    case "timestamp":
      return point.value;
    case "today":
    case "now":
      return point.type;
    default:
      return assertNever(point, "time point");
  }
}

export function printWindow(window: Window): string {
  switch (window.kind) {
    case "last":
    case "next":
      return `within ${window.kind} ${printDuration(window.duration)}`;
    case "before":
    case "after":
      return `${window.kind} ${printTimePoint(window.at)}`;
    case "calendar": {
      const words = {
        today: "today",
        yesterday: "yesterday",
        thisMonth: "this month",
        lastMonth: "last month",
        thisYear: "this year",
      } as const;
      return `within ${words[window.period]}`;
    }
    default:
      return assertNever(window, "window");
  }
}

function printSelector(event: EventSelector, property?: string): string {
  let text = property ? `${event.type}.${property}` : event.type;
  if (event.where) text += ` where ${printCondition(event.where)}`;
  if (event.window) text += ` ${printWindow(event.window)}`;
  return text;
}

function printOperand(operand: Operand): string {
  switch (operand.kind) {
    case "field":
      return operand.path;
    case "age":
      return `age(${operand.path})`;
    case "aggregate":
      return `${operand.fn}(${printSelector(operand.event, operand.property)})`;
    case "latest":
      return `latest(${printSelector(operand.event, operand.property)})`;
    default:
      return assertNever(operand, "operand");
  }
}

const ic = (c: { ignoreCase?: boolean }) => (c.ignoreCase ? " ignoring case" : "");

/** Nested and/or are always parenthesised, so the printed text parses back to the same tree. */
function printChild(child: Condition): string {
  return child.kind === "and" || child.kind === "or" ? `(${printCondition(child)})` : printCondition(child);
}

export function printCondition(c: Condition): string {
  switch (c.kind) {
    case "and":
    case "or":
      return c.conditions.map(printChild).join(` ${c.kind} `);
    case "not":
      return `not ${printChild(c.condition)}`;
    case "compare":
      return `${printOperand(c.operand)} ${c.op} ${printLiteral(c.value)}${ic(c)}`;
    case "in":
      return `${printOperand(c.operand)} ${c.negated ? "not in" : "in"} [${c.values.map(printLiteral).join(", ")}]${ic(c)}`;
    case "text":
      return `${printOperand(c.operand)} ${c.op} ${JSON.stringify(c.value)}${ic(c)}`;
    case "matches":
      return `${printOperand(c.operand)} matches ${JSON.stringify(c.pattern)}${ic(c)}`;
    case "between":
      return `${printOperand(c.operand)} between ${printLiteral(c.low)} and ${printLiteral(c.high)}`;
    case "exists":
      return `${printOperand(c.operand)} exists`;
    case "isNull":
      return `${printOperand(c.operand)} is null`;
    case "inWindow":
      return `${printOperand(c.operand)} ${printWindow(c.window)}`;
    case "birthday":
      return `birthday(${c.path}) within next ${c.days} days`;
    case "eventExists":
      return `exists(${printSelector(c.event)})`;
    case "sequence": {
      const steps = c.steps.map(
        (s, i) => `${i === 0 ? "" : s.negated ? "then not " : "then "}${printSelector(s.event)}`,
      );
      return `sequence(${steps.join(" ")}${c.within ? ` within ${printDuration(c.within)}` : ""})`;
    }
    case "inSegment":
      return `inSegment(${JSON.stringify(c.segment)})`;
    default:
      return assertNever(c, "condition");
  }
}
