import { HeraldError } from "../errors/index.ts";
import { type Field, loadSchema, type SchemaSnapshot } from "../schema/index.ts";
import { fieldsRead, isInvalidSegment, listStoredSegments, type SegmentAst } from "../segments/index.ts";
import type { Executor } from "../store/index.ts";
import { labelsThatHold, printExpression } from "./label-expression.ts";
import { findMarketingAction, listMarketingActions, type MarketingAction } from "./marketing-actions.ts";
import { enabledPolicies, type Policy } from "./policy-store.ts";

type MappingSource =
  | { kind: "attribute"; path: string }
  | { kind: "identity"; namespace: string }
  | { kind: "membership"; field: string };

/**
 * A dataflow as governance reads it: what it is for, the segments whose rules it reads and what
 * its mapping sends. Activation's dataflows (saved or about to be) fit it as they are;
 * `destinationName` names the account for the lineage.
 */
export interface GovernedDataflow {
  id?: string;
  name: string;
  status?: string;
  marketingActions: readonly string[];
  segments: readonly { segmentId: string; schedule: { frequency: string } }[];
  mapping: { columns: readonly { source: MappingSource; target?: string | undefined }[] };
  destinationName?: string;
}

/** The sandbox's active (enabled) dataflows: activation answers, as edits are checked against them. */
export type ActiveDataflows = (db: Executor, sandbox: string) => Promise<GovernedDataflow[]>;

/** Where a label in play comes from: a field, read by a segment's rule or mapped for export. */
export interface LineageEntry {
  label: string;
  field: string;
  entity: Field["entity"];
  /** `segment` when a segment's rule reads the field, `mapping` when a column exports it. */
  usedBy: "segment" | "mapping";
  segment?: { id: string; name: string };
  /** The output column (mapping), or `identities.<namespace>` for a streamed identity. */
  column?: string;
  dataflow: string;
  destination?: string;
}

export interface Violation {
  policy: { id: string; name: string };
  marketingAction: string;
  /** The policy's expression in words (`C2 OR C12`). */
  expression: string;
  /** The labels in play that made the expression hold. */
  labels: string[];
  lineage: LineageEntry[];
  suggestions: string[];
  message: string;
}

/**
 * What evaluation reads from the store, loaded once per check: the enabled policies, the actions,
 * the schema (fields and their labels) and the segments' rules. Edit checks evaluate against a
 * changed copy.
 */
export interface GovernanceFacts {
  policies: readonly Policy[];
  actions: readonly MarketingAction[];
  schema: Pick<SchemaSnapshot, "profileFields" | "eventFields" | "identities">;
  segments: ReadonlyMap<string, { name: string; ast: SegmentAst }>;
}

export async function loadGovernanceFacts(
  db: Executor,
  sandbox: string,
  loaded?: Pick<GovernanceFacts, "policies" | "actions">,
): Promise<GovernanceFacts> {
  const [policies, actions, schema, stored] = [
    loaded?.policies ?? (await enabledPolicies(db, sandbox)),
    loaded?.actions ?? (await listMarketingActions(db, sandbox)),
    await loadSchema(db, sandbox),
    await listStoredSegments(db, sandbox),
  ];
  const segments = new Map(
    stored.flatMap((s) => (isInvalidSegment(s) ? [] : [[s.id, { name: s.name, ast: s.ast }] as const])),
  );
  return { policies, actions, schema, segments };
}

const columnTarget = (source: MappingSource, target: string | undefined) =>
  target ??
  (source.kind === "attribute"
    ? source.path.replaceAll(".", "_")
    : source.kind === "identity"
      ? source.namespace
      : source.field);

/**
 * The labels in play for a dataflow, each with where it comes from: the labels of the fields its
 * segments' rules read (through inSegment references too) and of the fields its mapping exports.
 * A streaming dataflow without identity columns sends every identity (src/streaming/payload.ts):
 * those fields count as exported. Other fields' labels do not count.
 */
export function labelsInPlay(
  facts: GovernanceFacts,
  dataflow: GovernedDataflow,
): Map<string, LineageEntry[]> {
  const inPlay = new Map<string, LineageEntry[]>();
  const base = {
    dataflow: dataflow.name,
    ...(dataflow.destinationName ? { destination: dataflow.destinationName } : {}),
  };
  const add = (
    field: Field | undefined,
    use: Omit<LineageEntry, "label" | "field" | "entity" | "dataflow">,
  ) => {
    for (const label of field?.labels ?? []) {
      const entry = { label, field: (field as Field).path, entity: (field as Field).entity, ...use, ...base };
      inPlay.set(label, [...(inPlay.get(label) ?? []), entry]);
    }
  };
  const resolve = (id: string) => facts.segments.get(id)?.ast;
  for (const { segmentId } of dataflow.segments) {
    const segment = facts.segments.get(segmentId);
    if (!segment) continue;
    for (const read of fieldsRead(segment.ast, resolve)) {
      const fields = read.entity === "profile" ? facts.schema.profileFields : facts.schema.eventFields;
      add(fields.get(read.path), { usedBy: "segment", segment: { id: segmentId, name: segment.name } });
    }
  }
  for (const { source, target } of dataflow.mapping.columns) {
    const column = columnTarget(source, target);
    if (source.kind === "attribute")
      add(facts.schema.profileFields.get(source.path), { usedBy: "mapping", column });
    if (source.kind === "identity")
      add(facts.schema.identities.get(source.namespace), { usedBy: "mapping", column });
  }
  const streams = dataflow.segments.some((s) => s.schedule.frequency === "streaming");
  if (streams && !dataflow.mapping.columns.some((c) => c.source.kind === "identity")) {
    for (const [namespace, field] of facts.schema.identities)
      add(field, { usedBy: "mapping", column: `identities.${namespace}` });
  }
  return inPlay;
}

function describeUse(entry: LineageEntry): string {
  return entry.usedBy === "segment"
    ? `read by segment '${entry.segment?.name}' (${entry.segment?.id})`
    : `mapped as column '${entry.column}'`;
}

function suggestionsFor(lineage: readonly LineageEntry[], action: MarketingAction): string[] {
  const suggestions = lineage.map((e) =>
    e.usedBy === "mapping"
      ? `remove the mapped field '${e.field}' (column '${e.column}') from the mapping`
      : `remove segment '${e.segment?.name}' from this dataflow, or change its rule so that it no longer reads '${e.field}'`,
  );
  suggestions.push(`remove the marketing action '${action.name}' from this dataflow`);
  return [...new Set(suggestions)];
}

/** The violations of a dataflow under the given facts: pure, for edit checks and tests. */
export function findViolations(facts: GovernanceFacts, dataflow: GovernedDataflow): Violation[] {
  const inPlay = labelsInPlay(facts, dataflow);
  const labels = new Set(inPlay.keys());
  const violations: Violation[] = [];
  const actions = dataflow.marketingActions.flatMap(
    (named) => findMarketingAction(facts.actions, named) ?? [],
  );
  for (const action of new Set(actions)) {
    for (const policy of facts.policies) {
      if (policy.status !== "enabled" || policy.marketingAction !== action.id) continue;
      const held = labelsThatHold(policy.expression, labels);
      if (!held) continue;
      const lineage = held.flatMap((label) => inPlay.get(label) ?? []);
      const where = lineage.map((e) => `${e.label} on '${e.field}' ${describeUse(e)}`).join("; ");
      violations.push({
        policy: { id: policy.id, name: policy.name },
        marketingAction: action.name,
        expression: printExpression(policy.expression),
        labels: held,
        lineage,
        suggestions: suggestionsFor(lineage, action),
        message: `dataflow '${dataflow.name}' violates policy '${policy.name}': marketing action '${action.name}' is denied for ${printExpression(policy.expression)}, and ${held.join(", ")} ${held.length > 1 ? "are" : "is"} in play (${where})`,
      });
    }
  }
  return violations;
}

/**
 * The dataflow's violations of the sandbox's enabled policies now. Without an enabled policy for
 * one of its actions (most dataflows, checked again at every run and streamed batch), two small
 * reads answer: the schema and the segments are read only when a policy could apply.
 */
export async function evaluateDataflowPolicies(
  db: Executor,
  sandbox: string,
  dataflow: GovernedDataflow,
): Promise<Violation[]> {
  const policies = await enabledPolicies(db, sandbox);
  if (!policies.length || !dataflow.marketingActions.length) return [];
  const actions = await listMarketingActions(db, sandbox);
  const ids = new Set(dataflow.marketingActions.map((named) => findMarketingAction(actions, named)?.id));
  if (!policies.some((p) => ids.has(p.marketingAction))) return [];
  return findViolations(await loadGovernanceFacts(db, sandbox, { policies, actions }), dataflow);
}

/** The refusal of an activation (or a run) that violates policies: 409 `policy_violation`. */
export function policyViolationError(violations: readonly Violation[]): HeraldError {
  const [first] = violations;
  const more = violations.length > 1 ? ` (and ${violations.length - 1} more violation(s))` : "";
  return new HeraldError(
    "conflict",
    "policy_violation",
    `${first?.message ?? "policy violation"}${more}`,
    [],
    { violations },
  );
}

/** Refuses a dataflow that violates an enabled policy. */
export async function refusePolicyViolations(
  db: Executor,
  sandbox: string,
  dataflow: GovernedDataflow,
): Promise<void> {
  const violations = await evaluateDataflowPolicies(db, sandbox, dataflow);
  if (violations.length) throw policyViolationError(violations);
}
