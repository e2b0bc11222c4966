import { HeraldError, validationError } from "../errors/index.ts";
import type { SegmentAst } from "./ast.ts";
import { referencedSegments } from "./typecheck.ts";

/** Finds the definition of a segment another one refers to with inSegment("id"). */
export type SegmentResolver = (segmentId: string) => SegmentAst | undefined;

export const noSegments: SegmentResolver = () => undefined;

/**
 * Follows inSegment references while compiling: `stack` holds the segments being expanded, so a
 * reference back into it is a cycle rather than an endless expansion.
 */
export function resolveReference(
  resolve: SegmentResolver,
  segmentId: string,
  stack: readonly string[],
): SegmentAst {
  if (stack.includes(segmentId)) {
    throw validationError(
      `Segment references form a cycle: ${[...stack, segmentId].join(" → ")}`,
      [
        {
          field: "definition",
          message: `inSegment("${segmentId}") refers back to itself through ${stack.join(" → ")}`,
        },
      ],
      "segment_cycle",
    );
  }
  const ast = resolve(segmentId);
  if (!ast)
    throw new HeraldError(
      "validation",
      "unknown_segment",
      `inSegment("${segmentId}"): no segment with id '${segmentId}'`,
      [{ field: "definition", message: `no segment with id '${segmentId}'` }],
    );
  return ast;
}

/**
 * The first reference cycle reachable from `segmentId` (whose definition is `ast`), as the list
 * of ids around it, or undefined. Unknown references are reported separately.
 */
export function findCycle(
  segmentId: string,
  ast: SegmentAst,
  resolve: SegmentResolver,
): string[] | undefined {
  const visit = (id: string, definition: SegmentAst, path: string[]): string[] | undefined => {
    for (const next of referencedSegments(definition.condition)) {
      if (next === segmentId || path.includes(next)) return [...path, id, next];
      const child = next === segmentId ? ast : resolve(next);
      if (!child) continue;
      const found = visit(next, child, [...path, id]);
      if (found) return found;
    }
    return undefined;
  };
  return visit(segmentId, ast, []);
}
