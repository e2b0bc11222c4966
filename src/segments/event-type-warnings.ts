import { listStoredEventTypes } from "../profiles/index.ts";
import type { Executor } from "../store/index.ts";
import type { SegmentAst } from "./ast.ts";
import { closest } from "./parse.ts";
import { eventTypesRead } from "./streaming.ts";

/**
 * What to tell the author of a segment reading event types the sandbox has never stored (a typo
 * such as `commerce.purchase` for `commerce.purchases` would otherwise give an empty audience
 * without a word), with the closest stored type. Warnings, not errors: events of a new type may be
 * about to flow. A sandbox with no events at all warns about nothing.
 */
export async function eventTypeWarnings(db: Executor, sandbox: string, ast: SegmentAst): Promise<string[]> {
  const read = eventTypesRead(ast);
  if (!read.length) return [];
  const stored = await listStoredEventTypes(db, sandbox);
  if (!stored.length) return [];
  const known = new Set(stored);
  return read
    .filter((type) => !known.has(type))
    .map((type) => {
      const guess = closest(type, stored);
      return `${type}: no event of this type has been stored in this sandbox${guess ? `; did you mean ${guess}?` : ""}`;
    });
}
