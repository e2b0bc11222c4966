import { randomUUID } from "node:crypto";
import { z } from "zod";
import { conflict, issuesOf, notFound, parseInput, validationError } from "../errors/index.ts";
import { loadSchema, type SchemaSnapshot } from "../schema/index.ts";
import type { Executor, Store } from "../store/index.ts";
import { type SegmentAst, segmentAstSchema } from "./ast.ts";
import { eventTypeWarnings } from "./event-type-warnings.ts";
import { parseSegment } from "./parse.ts";
import { printSegment } from "./print.ts";
import { findCycle, type SegmentResolver } from "./references.ts";
import { type StreamingEligibility, streamingEligibility } from "./streaming.ts";
import { referencedSegments, typecheckSegment } from "./typecheck.ts";

export const segmentIdSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9_-]{0,62}$/,
    "must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter",
  );

/**
 * A segment as the API and CLI submit it: the definition as text (the language) or as the AST
 * (what the UI builder edits); exactly one of the two.
 */
export const segmentInputSchema = z
  .object({
    id: segmentIdSchema
      .optional()
      .describe("Stable id used by inSegment(...) and dataflows; derived from the name when absent"),
    name: z.string().trim().min(1).max(200),
    description: z.string().max(2000).optional(),
    definition: z.string().min(1).max(100_000).optional().describe("The segment in the text language"),
    ast: segmentAstSchema.optional().describe("The segment as its JSON AST"),
  })
  .refine((s) => (s.definition === undefined) !== (s.ast === undefined), {
    message: "give exactly one of definition (text) or ast",
    path: ["definition"],
  });
export type SegmentInput = z.input<typeof segmentInputSchema>;

export const segmentPatchSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(2000).nullable().optional(),
    definition: z.string().min(1).max(100_000).optional(),
    ast: segmentAstSchema.optional(),
  })
  .refine((s) => s.definition === undefined || s.ast === undefined, {
    message: "give at most one of definition (text) or ast",
    path: ["definition"],
  });
export type SegmentPatch = z.input<typeof segmentPatchSchema>;

export interface Segment {
  id: string;
  sandbox: string;
  name: string;
  description?: string;
  /** The text as written (comments kept); for segments saved as an AST, its canonical text. */
  definition: string;
  ast: SegmentAst;
  /** Whether the streaming path can evaluate it, and why not. */
  streaming: StreamingEligibility;
  createdAt: Date;
  updatedAt: Date;
  lastEvaluatedAt?: Date;
}

/**
 * A segment as just saved, with what its author should know though it did not stop the save:
 * event types it reads that the sandbox has never stored (see eventTypeWarnings).
 */
export interface SavedSegment extends Segment {
  warnings: string[];
}

/**
 * A stored segment whose definition cannot be evaluated: its AST no longer passes the schema
 * (saved before a check existed, or changed by hand), or it refers to such a segment. It is listed
 * with the problem and left out of evaluation until given a new definition or deleted.
 */
export interface InvalidSegment extends Omit<Segment, "ast" | "streaming"> {
  invalid: string;
}

/** A segment as stored: usable, or invalid with the reason. */
export type StoredSegment = Segment | InvalidSegment;

export const isInvalidSegment = (s: StoredSegment): s is InvalidSegment => "invalid" in s;

/** Why a stored segment cannot be evaluated: named in logs, and in answers to a request for it. */
export const invalidSegmentError = (id: string, problem: string) =>
  conflict(
    "segment_definition_invalid",
    `Segment '${id}' cannot be evaluated: its stored definition is invalid (${problem}); give it a new definition or delete it`,
  );

interface SegmentRow {
  sandbox: string;
  id: string;
  name: string;
  description: string | null;
  definition: string;
  ast: string;
  created_at: Date;
  updated_at: Date;
  last_evaluated_at: Date | null;
}

/** A stored segment's AST when it passes the schema, and the problem when it cannot be evaluated. */
interface StoredDefinition {
  ast?: SegmentAst;
  problem?: string;
}

function readStoredAst(json: string): StoredDefinition {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { problem: "ast: not JSON" };
  }
  const parsed = segmentAstSchema.safeParse(value);
  if (parsed.success) return { ast: parsed.data };
  return {
    problem: issuesOf(parsed.error, (path) => ["ast", ...path.map(String)].join("."))
      .map((i) => i.message)
      .join("; "),
  };
}

/** The first segment reachable through inSegment(...) from `id` that has no usable AST. */
function unusableReference(
  id: string,
  stored: ReadonlyMap<string, StoredDefinition>,
  seen = new Set([id]),
): string | undefined {
  const ast = stored.get(id)?.ast;
  for (const next of ast ? referencedSegments(ast.condition) : []) {
    if (seen.has(next)) continue;
    seen.add(next);
    if (!stored.get(next)?.ast) return next;
    const deeper = unusableReference(next, stored, seen);
    if (deeper) return deeper;
  }
  return undefined;
}

/**
 * Every stored segment's definition by id. One that fails the schema, or refers to one that does
 * (its compiled query would fail, and with it every segment evaluated in the same pass), carries
 * the problem instead of taking the sandbox's listing and evaluation down.
 */
function definitionsOf(rows: readonly { id: string; ast: string }[]): Map<string, StoredDefinition> {
  const stored = new Map(rows.map((r) => [r.id, readStoredAst(r.ast)]));
  return new Map(
    [...stored].map(([id, definition]) => {
      const reference = definition.ast && unusableReference(id, stored);
      if (!reference) return [id, definition];
      return [
        id,
        { ...definition, problem: `inSegment("${reference}") refers to a segment that cannot be evaluated` },
      ];
    }),
  );
}

async function loadDefinitions(db: Executor, sandbox: string): Promise<Map<string, StoredDefinition>> {
  const rows = await db.query<{ id: string; ast: string }>(
    sandbox,
    "SELECT id, ast FROM segments WHERE sandbox = $sandbox",
  );
  return definitionsOf(rows);
}

/** The definitions that can be evaluated, by id. */
function usable(definitions: ReadonlyMap<string, StoredDefinition>): Map<string, SegmentAst> {
  return new Map([...definitions].flatMap(([id, d]) => (d.ast && !d.problem ? [[id, d.ast] as const] : [])));
}

function resolverOf(definitions: ReadonlyMap<string, StoredDefinition>): SegmentResolver {
  const resolvable = usable(definitions);
  return (id) => resolvable.get(id);
}

/**
 * Resolves inSegment(...) references to the sandbox's usable segments. `required` segments must
 * exist and be usable (those about to be evaluated): not found, or a conflict naming the problem.
 */
export async function segmentResolver(
  db: Executor,
  sandbox: string,
  required: readonly string[] = [],
): Promise<SegmentResolver> {
  const definitions = await loadDefinitions(db, sandbox);
  for (const id of required) {
    const definition = definitions.get(id);
    if (!definition) throw notFound("segment", id);
    if (definition.problem) throw invalidSegmentError(id, definition.problem);
  }
  return resolverOf(definitions);
}

function toSegment(
  row: SegmentRow,
  definitions: ReadonlyMap<string, StoredDefinition>,
  resolve: SegmentResolver,
): StoredSegment {
  const common = {
    id: row.id,
    sandbox: row.sandbox,
    name: row.name,
    ...(row.description ? { description: row.description } : {}),
    definition: row.definition,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.last_evaluated_at ? { lastEvaluatedAt: row.last_evaluated_at } : {}),
  };
  const { ast, problem } = definitions.get(row.id) ?? readStoredAst(row.ast);
  if (!ast || problem) return { ...common, invalid: problem ?? "no definition" };
  return { ...common, ast, streaming: streamingEligibility(ast, { resolve, segmentId: row.id }) };
}

/**
 * Parses (or validates) a definition and checks it against the schema and the other segments:
 * every field known and typed, every referenced segment existing, no reference cycle.
 */
export function validateDefinition(
  input: { definition?: string; ast?: SegmentAst },
  schema: SchemaSnapshot,
  segmentId: string,
  definitions: ReadonlyMap<string, SegmentAst>,
): { definition: string; ast: SegmentAst } {
  let ast: SegmentAst;
  let definition: string;
  if (input.definition !== undefined) {
    const parsed = parseSegment(input.definition, { eventFields: schema.eventFields.keys() });
    typecheckSegment(parsed.ast, schema, parsed.spans);
    ast = parsed.ast;
    definition = input.definition;
  } else if (input.ast !== undefined) {
    ast = input.ast;
    typecheckSegment(ast, schema);
    definition = printSegment(ast);
  } else {
    throw validationError("Invalid segment: give a definition", [
      { field: "definition", message: "required" },
    ]);
  }
  const unknown = referencedSegments(ast.condition).filter((id) => id !== segmentId && !definitions.has(id));
  if (unknown.length) {
    throw validationError(
      `Invalid segment definition: inSegment("${unknown[0]}") refers to no segment of this sandbox`,
      unknown.map((id) => ({ field: "definition", message: `no segment with id '${id}'` })),
      "unknown_segment",
    );
  }
  const resolve: SegmentResolver = (id) => (id === segmentId ? ast : definitions.get(id));
  const cycle = findCycle(segmentId, ast, resolve);
  if (cycle) {
    throw validationError(
      `Invalid segment definition: references form a cycle: ${cycle.join(" → ")}`,
      [{ field: "definition", message: `reference cycle ${cycle.join(" → ")}` }],
      "segment_cycle",
    );
  }
  return { definition, ast };
}

/**
 * A definition in the text language, parsed and checked against the schema: the AST to estimate,
 * save or evaluate. Errors name line and column.
 */
export function parseDefinition(text: string, schema: SchemaSnapshot): SegmentAst {
  const parsed = parseSegment(text, { eventFields: schema.eventFields.keys() });
  typecheckSegment(parsed.ast, schema, parsed.spans);
  return parsed.ast;
}

function slug(name: string): string {
  const base = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50);
  return /^[a-z]/.test(base) ? base : `segment-${base || randomUUID().slice(0, 8)}`;
}

/** A segment as stored, usable or not (see InvalidSegment). */
export async function getStoredSegment(db: Executor, sandbox: string, id: string): Promise<StoredSegment> {
  const rows = await db.query<SegmentRow>(
    sandbox,
    "SELECT * FROM segments WHERE sandbox = $sandbox AND id = $1",
    [id],
  );
  const row = rows[0];
  if (!row) throw notFound("segment", id);
  const definitions = await loadDefinitions(db, sandbox);
  return toSegment(row, definitions, resolverOf(definitions));
}

/** A segment that can be evaluated: not found, or a conflict naming why its definition cannot be used. */
export async function getSegment(db: Executor, sandbox: string, id: string): Promise<Segment> {
  const segment = await getStoredSegment(db, sandbox, id);
  if (isInvalidSegment(segment)) throw invalidSegmentError(id, segment.invalid);
  return segment;
}

/** Every segment as stored, by name, the invalid ones with their problem. */
export async function listStoredSegments(db: Executor, sandbox: string): Promise<StoredSegment[]> {
  const rows = await db.query<SegmentRow>(
    sandbox,
    "SELECT * FROM segments WHERE sandbox = $sandbox ORDER BY name, id",
  );
  const definitions = definitionsOf(rows);
  const resolve = resolverOf(definitions);
  return rows.map((r) => toSegment(r, definitions, resolve));
}

/** The segments that can be evaluated, by name; listStoredSegments also gives the invalid ones. */
export async function listSegments(db: Executor, sandbox: string): Promise<Segment[]> {
  return (await listStoredSegments(db, sandbox)).filter((s): s is Segment => !isInvalidSegment(s));
}

/**
 * What "evaluate every segment" evaluates: the usable segments' ids, and the invalid ones it
 * leaves out, for the caller to report (one invalid segment must not fail the others' pass).
 */
export async function segmentsToEvaluate(
  db: Executor,
  sandbox: string,
): Promise<{ ids: string[]; invalid: InvalidSegment[] }> {
  const segments = await listStoredSegments(db, sandbox);
  const invalid = segments.filter(isInvalidSegment);
  return { ids: segments.filter((s) => !isInvalidSegment(s)).map((s) => s.id), invalid };
}

/**
 * Validates and saves a new segment. The id defaults to a slug of the name, made unique. Event
 * types the sandbox has never stored are warned about, not refused.
 */
export async function createSegment(
  store: Store,
  sandbox: string,
  input: SegmentInput,
): Promise<SavedSegment> {
  const segment = parseInput(segmentInputSchema, input, "segment");
  const schema = await loadSchema(store, sandbox);
  const now = new Date();
  const id = await store.transaction(async (tx) => {
    const definitions = await loadDefinitions(tx, sandbox);
    let id = segment.id;
    if (id && definitions.has(id)) throw conflict("segment_exists", `Segment '${id}' already exists`);
    if (!id) {
      const base = slug(segment.name);
      id = base;
      for (let n = 2; definitions.has(id); n++) id = `${base}-${n}`;
    }
    const { definition, ast } = validateDefinition(segment, schema, id, usable(definitions));
    await tx.query(
      sandbox,
      `INSERT INTO segments (sandbox, id, name, description, definition, ast, created_at, updated_at)
       VALUES ($sandbox, $1, $2, $3, $4, $5, $6, $7)`,
      [id, segment.name, segment.description ?? null, definition, JSON.stringify(ast), now, now],
    );
    return id;
  });
  return withWarnings(store, sandbox, id);
}

/** The segment as stored, with its warnings (see SavedSegment). */
async function withWarnings(store: Store, sandbox: string, id: string): Promise<SavedSegment> {
  const segment = await getSegment(store, sandbox, id);
  return { ...segment, warnings: await eventTypeWarnings(store, sandbox, segment.ast) };
}

/**
 * Changes a segment's name, description or definition; a new definition is validated as on create,
 * and the saved one warned about as on create.
 */
export async function updateSegment(
  store: Store,
  sandbox: string,
  id: string,
  patch: SegmentPatch,
): Promise<SavedSegment> {
  const changes = parseInput(segmentPatchSchema, patch, "segment");
  const schema = await loadSchema(store, sandbox);
  await store.transaction(async (tx) => {
    const current = (
      await tx.query<SegmentRow>(sandbox, "SELECT * FROM segments WHERE sandbox = $sandbox AND id = $1", [id])
    )[0];
    if (!current) throw notFound("segment", id);
    let definition = current.definition;
    let ast = current.ast;
    const definitions = await loadDefinitions(tx, sandbox);
    if (changes.definition !== undefined || changes.ast !== undefined) {
      const others = usable(definitions);
      others.delete(id);
      const checked = validateDefinition(changes, schema, id, others);
      definition = checked.definition;
      ast = JSON.stringify(checked.ast);
      // The streaming path's recheck times were computed under the old definitions (this segment's
      // and those referring to it): unknown again, so the sweep looks at those members anew.
      await tx.query(
        sandbox,
        "UPDATE segment_memberships SET recheck_at = NULL WHERE sandbox = $sandbox AND recheck_at IS NOT NULL",
      );
    } else {
      // Only a new definition makes an invalid segment usable again.
      const problem = definitions.get(id)?.problem;
      if (problem) throw invalidSegmentError(id, problem);
    }
    const description = changes.description === undefined ? current.description : changes.description;
    await tx.query(
      sandbox,
      `UPDATE segments SET name = $1, description = $2, definition = $3, ast = $4, updated_at = $5
       WHERE sandbox = $sandbox AND id = $6`,
      [changes.name ?? current.name, description, definition, ast, new Date(), id],
    );
  });
  return withWarnings(store, sandbox, id);
}

/**
 * Deletes a segment with its memberships and history; refused while another segment refers to it,
 * or while a dataflow exports it: `usedBy` names those dataflows (activation answers, given at wiring).
 */
export async function deleteSegment(
  store: Store,
  sandbox: string,
  id: string,
  usedBy: (segmentId: string) => Promise<string[]> = async () => [],
): Promise<void> {
  const dataflows = await usedBy(id);
  await store.transaction(async (tx) => {
    const definitions = await loadDefinitions(tx, sandbox);
    if (!definitions.has(id)) throw notFound("segment", id);
    if (dataflows.length) {
      throw conflict(
        "segment_in_use",
        `Segment '${id}' is exported by dataflow${dataflows.length > 1 ? "s" : ""} ${dataflows.map((d) => `'${d}'`).join(", ")}; remove it from them or delete them first`,
      );
    }
    const users = [...definitions].filter(
      ([other, { ast }]) => other !== id && ast && referencedSegments(ast.condition).includes(id),
    );
    if (users.length) {
      throw conflict(
        "segment_in_use",
        `Segment '${id}' is used by ${users.map(([other]) => `'${other}'`).join(", ")} (inSegment); change those first`,
      );
    }
    for (const table of ["segment_memberships", "segment_evaluations"]) {
      await tx.query(sandbox, `DELETE FROM ${table} WHERE sandbox = $sandbox AND segment_id = $1`, [id]);
    }
    await tx.query(sandbox, "DELETE FROM segments WHERE sandbox = $sandbox AND id = $1", [id]);
  });
}
