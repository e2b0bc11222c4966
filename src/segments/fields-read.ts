import { assertNever } from "../errors/index.ts";
import type { FieldEntity } from "../schema/index.ts";
import type { Condition, EventSelector, Operand, SegmentAst } from "./ast.ts";
import type { SegmentResolver } from "./references.ts";

/** A schema field a segment's rule reads: a profile attribute, or an event property. */
export interface FieldRead {
  entity: FieldEntity;
  path: string;
}

/**
 * Every field a segment's rule reads, through the segments it refers to with inSegment(...) too
 * (resolved with `resolve`; unknown ones and cycles are skipped, the typecheck reports them).
 * Data-usage governance counts a field's labels when a rule reads it.
 */
export function fieldsRead(ast: SegmentAst, resolve: SegmentResolver): FieldRead[] {
  const found = new Map<string, FieldRead>();
  const add = (entity: FieldEntity, path: string) => found.set(`${entity}:${path}`, { entity, path });
  const followed = new Set<string>();

  const selector = (event: EventSelector) => {
    if (event.where) condition(event.where, true);
  };
  const operand = (o: Operand, inEvent: boolean): undefined => {
    switch (o.kind) {
      case "field":
        return void add(inEvent ? "event" : "profile", o.path);
      case "age":
        return void add("profile", o.path);
      case "aggregate":
        selector(o.event);
        if (o.property) add("event", o.property);
        return;
      case "latest":
        selector(o.event);
        return void add("event", o.property);
      default:
        return assertNever(o, "operand");
    }
  };
  const condition = (c: Condition, inEvent: boolean): undefined => {
    switch (c.kind) {
      case "and":
      case "or":
        for (const inner of c.conditions) condition(inner, inEvent);
        return;
      case "not":
        return condition(c.condition, inEvent);
      case "compare":
      case "in":
      case "text":
      case "matches":
      case "between":
      case "exists":
      case "isNull":
      case "inWindow":
        return operand(c.operand, inEvent);
      case "birthday":
        return void add("profile", c.path);
      case "eventExists":
        selector(c.event);
        return;
      case "sequence":
        for (const step of c.steps) selector(step.event);
        return;
      case "inSegment": {
        if (followed.has(c.segment)) return;
        followed.add(c.segment);
        const referenced = resolve(c.segment);
        if (referenced) condition(referenced.condition, false);
        return;
      }
      default:
        return assertNever(c, "condition");
    }
  };
  condition(ast.condition, false);
  return [...found.values()];
}
