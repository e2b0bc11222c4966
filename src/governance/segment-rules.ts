import { parseInput } from "../errors/index.ts";
import { loadSchema } from "../schema/index.ts";
import {
  getStoredSegment,
  parseDefinition,
  type SavedSegment,
  type SegmentAst,
  type SegmentPatch,
  segmentAstSchema,
  updateSegment,
} from "../segments/index.ts";
import type { Store } from "../store/index.ts";
import { refuseEditViolations } from "./edit-guard.ts";
import type { ActiveDataflows } from "./enforcement.ts";

/** The rule a patch gives a segment, or undefined when it gives none (or one the save will refuse). */
async function newRule(store: Store, sandbox: string, patch: SegmentPatch): Promise<SegmentAst | undefined> {
  try {
    if (patch.ast !== undefined) return parseInput(segmentAstSchema, patch.ast, "segment");
    if (patch.definition !== undefined)
      return parseDefinition(patch.definition, await loadSchema(store, sandbox));
  } catch {
    // The save names what is wrong with it.
  }
  return undefined;
}

/**
 * Updates a segment (segments' own `updateSegment`), refused first when its new rule would read a
 * labelled field that makes an active dataflow exporting it violate an enabled policy.
 */
export async function updateSegmentGoverned(
  store: Store,
  sandbox: string,
  id: string,
  patch: SegmentPatch,
  activeDataflows?: ActiveDataflows,
): Promise<SavedSegment> {
  const ast = await newRule(store, sandbox, patch);
  if (ast) {
    const segment = await getStoredSegment(store, sandbox, id);
    await refuseEditViolations(
      store,
      sandbox,
      activeDataflows,
      `Changing the rule of segment '${segment.name}'`,
      (facts) => ({
        ...facts,
        segments: new Map([...facts.segments, [id, { name: patch.name ?? segment.name, ast }]]),
      }),
    );
  }
  return updateSegment(store, sandbox, id, patch);
}
