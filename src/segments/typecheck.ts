import { assertNever, type Issue, validationError } from "../errors/index.ts";
import type { Field, FieldType, SchemaSnapshot } from "../schema/index.ts";
import type { Condition, EventSelector, Literal, Operand, SegmentAst, Window } from "./ast.ts";
import type { Position } from "./lexer.ts";
import { closest, type Spans } from "./parse.ts";
import { printLiteral } from "./print.ts";
import { betweenInstants, isValidTimeZone } from "./time.ts";

/** The type of a value an operand yields: a schema type, or the integer/number of a function. */
type ValueType = FieldType;

interface Scope {
  /** Inside an event's `where`: fields are that event's properties, no event functions. */
  event: boolean;
}

class Checker {
  readonly issues: Issue[] = [];
  private readonly schema: SchemaSnapshot;
  private readonly spans: Spans | undefined;
  /** The segment's time zone: a date bound of a timestamp range covers that local day. */
  private readonly timezone: string;

  constructor(schema: SchemaSnapshot, spans: Spans | undefined, timezone: string) {
    this.schema = schema;
    this.spans = spans;
    this.timezone = timezone;
  }

  private report(node: object, where: string, problem: string): undefined {
    const at: Position | undefined = this.spans?.get(node);
    const message = at ? `line ${at.line}, column ${at.column}: ${problem}` : `${where}: ${problem}`;
    this.issues.push({ field: at ? "definition" : where, message });
    return undefined;
  }

  private profileField(node: object, where: string, path: string): Field | undefined {
    const field = this.schema.profileFields.get(path);
    if (field) return field;
    if (this.schema.eventFields.has(path)) {
      this.report(
        node,
        where,
        `${path} is an event property; use it inside count(...), exists(...) or another event function`,
      );
      return undefined;
    }
    const last = path.split(".").pop() ?? path;
    const birth = [...this.schema.profileFields.values()].find(
      (f) => f.type === "date" && /birth/i.test(f.path),
    );
    const guess =
      last.toLowerCase() === "age" && birth
        ? `age(${birth.path})`
        : (closest(path, this.schema.profileFields.keys()) ??
          [...this.schema.profileFields.keys()].find(
            (p) => p.split(".").pop()?.toLowerCase() === last.toLowerCase(),
          ));
    this.report(node, where, `${path} is not a field${guess ? `; did you mean ${guess}?` : ""}`);
    return undefined;
  }

  private eventField(node: object, where: string, path: string): Field | undefined {
    const field = this.schema.eventFields.get(path);
    if (field) return field;
    if (this.schema.profileFields.has(path)) {
      this.report(
        node,
        where,
        `${path} is a profile field; inside an event's where, only event properties can be used`,
      );
      return undefined;
    }
    const guess = closest(path, this.schema.eventFields.keys());
    this.report(node, where, `${path} is not an event property${guess ? `; did you mean ${guess}?` : ""}`);
    return undefined;
  }

  private operand(o: Operand, where: string, scope: Scope): ValueType | undefined {
    switch (o.kind) {
      case "field":
        return (scope.event ? this.eventField(o, where, o.path) : this.profileField(o, where, o.path))?.type;
      case "age": {
        if (scope.event)
          return this.report(o, where, "age(...) applies to profile fields, not inside an event's where");
        const field = this.profileField(o, where, o.path);
        if (field && field.type !== "date")
          return this.report(o, where, `age(...) takes a date field; ${o.path} is a ${field.type}`);
        return field ? "integer" : undefined;
      }
      case "aggregate": {
        if (scope.event) return this.report(o, where, `${o.fn}(...) cannot be used inside an event's where`);
        this.selector(o.event, `${where}.event`);
        if (o.fn === "count") {
          if (o.property)
            this.report(o, where, "count(...) counts events; it takes an event type, not a property");
          return "integer";
        }
        if (!o.property)
          return this.report(o, where, `${o.fn}(...) needs a property: ${o.fn}(${o.event.type}.priceTotal)`);
        const field = this.eventField(o, where, o.property);
        if (field && field.type !== "number" && field.type !== "integer") {
          return this.report(
            o,
            where,
            `${o.fn}(...) needs a numeric property; ${o.property} is a ${field.type}`,
          );
        }
        return field ? "number" : undefined;
      }
      case "latest": {
        if (scope.event) return this.report(o, where, "latest(...) cannot be used inside an event's where");
        this.selector(o.event, `${where}.event`);
        return this.eventField(o, where, o.property)?.type;
      }
      default:
        return assertNever(o, "operand");
    }
  }

  private selector(event: EventSelector, where: string): undefined {
    if (event.where) this.condition(event.where, `${where}.where`, { event: true });
    if (event.window) this.window(event.window, "timestamp", event, where);
  }

  private window(window: Window, type: ValueType, node: object, where: string): undefined {
    if (type === "date") {
      if (
        (window.kind === "last" || window.kind === "next") &&
        window.duration.unit !== "days" &&
        window.duration.unit !== "weeks"
      ) {
        this.report(
          node,
          where,
          `a date has no time of day: count its window in days or weeks, not ${window.duration.unit}`,
        );
      }
      if ((window.kind === "before" || window.kind === "after") && window.at.type === "timestamp") {
        this.report(node, where, "cannot compare a date with a timestamp; write the date alone (2026-01-31)");
      }
    }
  }

  private literal(value: Literal, type: ValueType, node: object, where: string): boolean {
    const ok =
      (value.type === "string" && type === "string") ||
      (value.type === "number" && (type === "number" || type === "integer")) ||
      (value.type === "boolean" && type === "boolean") ||
      (value.type === "date" && (type === "date" || type === "timestamp")) ||
      (value.type === "timestamp" && type === "timestamp");
    if (!ok) {
      const article = (t: string) => (/^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);
      const hint =
        type === "date"
          ? "; write dates as 2026-01-31"
          : type === "timestamp"
            ? "; write timestamps as 2026-01-31T10:00:00Z"
            : type === "string" && value.type !== "string"
              ? "; strings are written in double quotes"
              : "";
      const shown = type === "string[]" ? "a list of strings" : article(type);
      this.report(
        this.spans?.get(value) ? value : node,
        where,
        `cannot compare ${shown} with ${article(value.type)}${hint}`,
      );
    }
    return ok;
  }

  private ignoreCase(c: { ignoreCase?: boolean }, type: ValueType, node: object, where: string): undefined {
    if (c.ignoreCase && type !== "string")
      this.report(
        node,
        where,
        `'ignoring case' applies to strings, not to ${type === "string[]" ? "lists" : `${type} values`}`,
      );
  }

  condition(c: Condition, where: string, scope: Scope): undefined {
    switch (c.kind) {
      case "and":
      case "or":
        c.conditions.forEach((child, i) => {
          this.condition(child, `${where}.conditions.${i}`, scope);
        });
        return;
      case "not":
        return this.condition(c.condition, `${where}.condition`, scope);
      case "compare": {
        const type = this.operand(c.operand, `${where}.operand`, scope);
        if (!type) return;
        if (type === "string[]")
          return this.report(c, where, "a list cannot be compared with =; use contains, exists or is null");
        if (!this.literal(c.value, type, c, `${where}.value`)) return;
        if ((type === "string" || type === "boolean") && c.op !== "=" && c.op !== "!=") {
          const extra =
            type === "string"
              ? " (string order depends on collation; use startsWith, in [...] or matches)"
              : "";
          this.report(c, where, `${c.op} does not apply to ${type} values; use = or !=${extra}`);
        }
        return this.ignoreCase(c, type, c, where);
      }
      case "in": {
        const type = this.operand(c.operand, `${where}.operand`, scope);
        if (!type) return;
        if (type === "string[]")
          return this.report(c, where, "in [...] does not apply to lists; use contains");
        c.values.forEach((v, i) => {
          this.literal(v, type, c, `${where}.values.${i}`);
        });
        return this.ignoreCase(c, type, c, where);
      }
      case "text": {
        const type = this.operand(c.operand, `${where}.operand`, scope);
        if (!type) return;
        if (type === "string[]") {
          if (c.op !== "contains")
            return this.report(c, where, `${c.op} applies to strings; a list supports contains`);
          return this.ignoreCase(c, type, c, where);
        }
        if (type !== "string")
          return this.report(c, where, `${c.op} applies to strings, not to ${type} values`);
        return;
      }
      case "matches": {
        const type = this.operand(c.operand, `${where}.operand`, scope);
        if (!type) return;
        if (type !== "string")
          return this.report(c, where, `matches applies to strings, not to ${type} values`);
        try {
          new RegExp(c.pattern);
        } catch (error) {
          this.report(c, where, `invalid regular expression: ${(error as Error).message}`);
        }
        return;
      }
      case "between": {
        const type = this.operand(c.operand, `${where}.operand`, scope);
        if (!type) return;
        if (type !== "number" && type !== "integer" && type !== "date" && type !== "timestamp") {
          return this.report(
            c,
            where,
            `between applies to numbers, dates and timestamps, not to ${type} values`,
          );
        }
        const lowFits = this.literal(c.low, type, c, `${where}.low`);
        const highFits = this.literal(c.high, type, c, `${where}.high`);
        if (lowFits && highFits && betweenMatchesNothing(c.low, c.high, this.timezone)) {
          const range = `between ${printLiteral(c.low)} and ${printLiteral(c.high)}`;
          this.report(
            c,
            where,
            `${range} matches nothing: the first bound is after the second; write between ${printLiteral(c.high)} and ${printLiteral(c.low)}`,
          );
        }
        return;
      }
      case "exists":
      case "isNull":
        this.operand(c.operand, `${where}.operand`, scope);
        return;
      case "inWindow": {
        const type = this.operand(c.operand, `${where}.operand`, scope);
        if (!type) return;
        if (type !== "date" && type !== "timestamp") {
          return this.report(c, where, `time windows apply to dates and timestamps, not to ${type} values`);
        }
        return this.window(c.window, type, c, where);
      }
      case "birthday": {
        if (scope.event) return this.report(c, where, "birthday(...) applies to profile fields");
        const field = this.profileField(c, where, c.path);
        if (field && field.type !== "date")
          this.report(c, where, `birthday(...) takes a date field; ${c.path} is a ${field.type}`);
        return;
      }
      case "eventExists":
        if (scope.event) return this.report(c, where, "exists(...) cannot be nested inside an event's where");
        return this.selector(c.event, `${where}.event`);
      case "sequence":
        if (scope.event)
          return this.report(c, where, "sequence(...) cannot be nested inside an event's where");
        c.steps.forEach((step, i) => {
          if (step.negated && i !== c.steps.length - 1) {
            this.report(c, where, "only the last step of a sequence can be 'then not'");
          }
          if (step.event.window)
            this.report(
              step.event,
              `${where}.steps.${i}`,
              "a sequence step takes no window; give the sequence one 'within N days'",
            );
          this.selector(step.event, `${where}.steps.${i}.event`);
        });
        return;
      case "inSegment":
        if (scope.event) this.report(c, where, "inSegment(...) cannot be used inside an event's where");
        return;
      default:
        return assertNever(c, "condition");
    }
  }
}

/**
 * Whether `between low and high` holds for no value at all: its bounds are the wrong way round.
 * An error rather than a warning, since no data can ever make it match (unlike an event type not
 * stored yet). Bounds are inclusive; a date bound of a timestamp covers its whole local day.
 */
export function betweenMatchesNothing(low: Literal, high: Literal, timezone: string): boolean {
  if (low.type === "number" && high.type === "number") return low.value > high.value;
  // YYYY-MM-DD: text order is date order, for a date field as for whole days of a timestamp.
  if (low.type === "date" && high.type === "date") return low.value > high.value;
  if (low.type !== "timestamp" && high.type !== "timestamp") return false;
  const { lower, upper } = betweenInstants(low, high, timezone);
  if (!lower || !upper) return false;
  return lower.value > upper.value || (lower.value === upper.value && !upper.inclusive);
}

/**
 * Checks a segment against the sandbox's schema: fields exist, values have the field's type,
 * operators suit the type. Throws one validation error listing every problem, each with its line
 * and column when the AST came from text (spans), or its JSON path otherwise.
 */
export function typecheckSegment(ast: SegmentAst, schema: SchemaSnapshot, spans?: Spans): void {
  const validZone = !ast.timezone || isValidTimeZone(ast.timezone);
  const checker = new Checker(schema, spans, validZone ? (ast.timezone ?? "UTC") : "UTC");
  if (!validZone) {
    checker.issues.push({
      field: "timezone",
      message: `unknown time zone '${ast.timezone}'; use an IANA name such as Europe/Paris`,
    });
  }
  checker.condition(ast.condition, "condition", { event: false });
  if (checker.issues.length) {
    throw validationError(
      `Invalid segment definition: ${checker.issues.map((i) => i.message).join("; ")}`,
      checker.issues,
      "invalid_segment",
    );
  }
}

/** Every segment id an AST refers to with inSegment(...). */
export function referencedSegments(condition: Condition): string[] {
  const out = new Set<string>();
  const visit = (c: Condition): undefined => {
    switch (c.kind) {
      case "and":
      case "or":
        c.conditions.forEach(visit);
        return;
      case "not":
        return visit(c.condition);
      case "inSegment":
        out.add(c.segment);
        return;
      case "compare":
      case "in":
      case "text":
      case "matches":
      case "between":
      case "exists":
      case "isNull":
      case "inWindow":
      case "birthday":
      case "eventExists":
      case "sequence":
        return;
      default:
        return assertNever(c, "condition");
    }
  };
  visit(condition);
  return [...out];
}
