import { randomUUID } from "node:crypto";
import { z } from "zod";
import { conflict, parseInput, validationError } from "../errors/index.ts";
import type { Executor } from "../store/index.ts";
import { refuseEditViolations } from "./edit-guard.ts";
import type { ActiveDataflows } from "./enforcement.ts";
import { expressionLabels, type LabelExpression, labelExpressionSchema } from "./label-expression.ts";
import { knownLabelNames } from "./labels.ts";
import { requireKnownMarketingActions } from "./marketing-actions.ts";
import {
  getPolicy,
  insertPolicy,
  listPolicies,
  type Policy,
  policyStatusSchema,
  removePolicy,
  writePolicy,
} from "./policy-store.ts";

const policyFields = {
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000),
  marketingAction: z.string().min(1).max(100).describe("the denied action, by id or name"),
  expression: labelExpressionSchema.describe(
    'labels joined by AND / OR, nested: {"operator": "OR", "operands": ["C2", {"operator": "AND", "operands": ["C3", "I1"]}]}',
  ),
  status: policyStatusSchema,
};

export const policyInputSchema = z
  .object({
    ...policyFields,
    description: policyFields.description.default(""),
    status: policyFields.status.default("draft").describe("draft (default), enabled or disabled"),
  })
  .strict();

/** An edit: the fields given change; `{"status": "enabled"}` enables. Core policies take `status` only. */
export const policyPatchSchema = z
  .object({
    name: policyFields.name.optional(),
    description: policyFields.description.optional(),
    marketingAction: policyFields.marketingAction.optional(),
    expression: policyFields.expression.optional(),
    status: policyFields.status.optional(),
  })
  .strict();

/** Every label of an expression with its field path (`expression.operands.1.operands.0`). */
function labelsWithPaths(expression: LabelExpression, at = "expression"): [string, string][] {
  return expression.operands.flatMap((o, i): [string, string][] =>
    typeof o === "string" ? [[o, `${at}.operands.${i}`]] : labelsWithPaths(o, `${at}.operands.${i}`),
  );
}

/** Refuses labels the sandbox does not know, naming each with its place in the expression. */
async function requireKnownExpressionLabels(db: Executor, sandbox: string, expression: LabelExpression) {
  const known = await knownLabelNames(db, sandbox);
  const issues = labelsWithPaths(expression)
    .filter(([label]) => !known.has(label))
    .map(([label, field]) => ({
      field,
      message: `${field}: unknown data-usage label '${label}'; use a core label (C1-C12, I1, I2, S1, S2) or create it first (POST /v1/labels)`,
    }));
  if (issues.length) throw validationError(issues.map((i) => i.message).join("; "), issues, "unknown_label");
}

async function refuseDuplicateName(db: Executor, sandbox: string, name: string, id?: string) {
  const clash = (await listPolicies(db, sandbox)).find(
    (p) => p.id !== id && p.name.toLowerCase() === name.toLowerCase(),
  );
  if (clash) throw conflict("policy_exists", `A policy named '${clash.name}' exists already (${clash.id})`);
}

/** What an enabled policy changes for active dataflows, checked before it is saved. */
function refuseIfActiveDataflowsViolate(
  db: Executor,
  sandbox: string,
  policy: Policy,
  activeDataflows: ActiveDataflows | undefined,
  what: string,
) {
  if (policy.status !== "enabled") return Promise.resolve();
  return refuseEditViolations(db, sandbox, activeDataflows, what, (facts) => ({
    ...facts,
    policies: [...facts.policies.filter((p) => p.id !== policy.id), policy],
  }));
}

export async function createPolicy(
  db: Executor,
  sandbox: string,
  input: unknown,
  activeDataflows?: ActiveDataflows,
): Promise<Policy> {
  const parsed = parseInput(policyInputSchema, input, "policy");
  await requireKnownExpressionLabels(db, sandbox, parsed.expression);
  const [action] = await requireKnownMarketingActions(
    db,
    sandbox,
    [parsed.marketingAction],
    () => "marketingAction",
  );
  await refuseDuplicateName(db, sandbox, parsed.name);
  const now = new Date();
  const policy: Policy = {
    id: randomUUID(),
    ...parsed,
    marketingAction: action?.id ?? parsed.marketingAction,
    core: false,
    createdAt: now,
    updatedAt: now,
  };
  await refuseIfActiveDataflowsViolate(
    db,
    sandbox,
    policy,
    activeDataflows,
    `Creating enabled policy '${policy.name}'`,
  );
  await insertPolicy(db, sandbox, policy);
  return policy;
}

export async function updatePolicy(
  db: Executor,
  sandbox: string,
  idOrName: string,
  patch: unknown,
  activeDataflows?: ActiveDataflows,
): Promise<Policy> {
  const changes = parseInput(policyPatchSchema, patch, "policy");
  const current = await getPolicy(db, sandbox, idOrName);
  const edited = Object.keys(changes).filter((k) => k !== "status");
  if (current.core && edited.length)
    throw conflict(
      "core_policy",
      `'${current.name}' is a core policy: only its status changes (not ${edited.join(", ")}); create a policy of your own instead`,
    );
  if (changes.expression) await requireKnownExpressionLabels(db, sandbox, changes.expression);
  const action = changes.marketingAction
    ? (await requireKnownMarketingActions(db, sandbox, [changes.marketingAction], () => "marketingAction"))[0]
    : undefined;
  if (changes.name) await refuseDuplicateName(db, sandbox, changes.name, current.id);
  const policy: Policy = {
    ...current,
    ...changes,
    marketingAction: action?.id ?? current.marketingAction,
    updatedAt: new Date(),
  };
  const what =
    current.status !== "enabled"
      ? `Enabling policy '${policy.name}'`
      : `Changing enabled policy '${policy.name}'`;
  await refuseIfActiveDataflowsViolate(db, sandbox, policy, activeDataflows, what);
  await writePolicy(db, sandbox, policy);
  return policy;
}

/** Deletes a policy of the sandbox's own; core policies can be disabled, not deleted. */
export async function deletePolicy(db: Executor, sandbox: string, idOrName: string): Promise<Policy> {
  const policy = await getPolicy(db, sandbox, idOrName);
  if (policy.core)
    throw conflict("core_policy", `'${policy.name}' is a core policy; disable it instead of deleting it`);
  await removePolicy(db, sandbox, policy.id);
  return policy;
}

/** Names of the policies whose expression names the label (a label in use is not deleted). */
export async function policiesNamingLabel(db: Executor, sandbox: string, label: string): Promise<string[]> {
  return (await listPolicies(db, sandbox))
    .filter((p) => expressionLabels(p.expression).includes(label))
    .map((p) => p.name);
}

/** Names of the policies denying the action (a custom action in use is not deleted). */
export async function policiesForAction(db: Executor, sandbox: string, actionId: string): Promise<string[]> {
  return (await listPolicies(db, sandbox)).filter((p) => p.marketingAction === actionId).map((p) => p.name);
}
