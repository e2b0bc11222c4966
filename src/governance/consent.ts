import { randomUUID } from "node:crypto";
import { z } from "zod";
import { notFound, parseInput, validationError } from "../errors/index.ts";
import { loadSchema } from "../schema/index.ts";
import type { Executor } from "../store/index.ts";
import {
  findMarketingAction,
  listMarketingActions,
  requireKnownMarketingActions,
} from "./marketing-actions.ts";

/**
 * Consent policies (REFERENCE, "Consent policies"): for a marketing action, the profiles whose
 * consent attribute does not hold one of the allowed values (missing included) are excluded from
 * every export made for that action, and counted as excluded for consent. The Adobe-style consent
 * attribute `consents.marketing.email.val` = "y" is the usual one:
 *
 *   { "name": "Email needs opt-in", "marketingAction": "Email targeting",
 *     "field": "consents.marketing.email.val", "allowedValues": ["y"] }
 */
const consentValue = z.union([z.string().min(1).max(200), z.number(), z.boolean()]);

export const consentPolicyInputSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    marketingAction: z
      .string()
      .min(1)
      .describe("The marketing action (id or name) the consent is required for"),
    field: z
      .string()
      .min(1)
      .describe("A profile attribute holding the consent, e.g. consents.marketing.email.val"),
    allowedValues: z
      .array(consentValue)
      .min(1)
      .max(50)
      .describe("The values that mean consent; anything else, missing included, excludes"),
    status: z.enum(["enabled", "disabled"]).default("enabled"),
  })
  .strict();

export type ConsentValue = z.infer<typeof consentValue>;

export interface ConsentPolicy {
  id: string;
  name: string;
  /** The marketing action's id. */
  marketingAction: string;
  field: string;
  allowedValues: ConsentValue[];
  status: "enabled" | "disabled";
  createdAt: Date;
  updatedAt: Date;
}

interface ConsentRow {
  id: string;
  name: string;
  marketing_action: string;
  field: string;
  allowed_values: string;
  status: ConsentPolicy["status"];
  created_at: Date;
  updated_at: Date;
}

const toPolicy = (row: ConsentRow): ConsentPolicy => ({
  id: row.id,
  name: row.name,
  marketingAction: row.marketing_action,
  field: row.field,
  allowedValues: JSON.parse(row.allowed_values) as ConsentValue[],
  status: row.status,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

/** A consent field must be a profile attribute of the sandbox's schema: named when not. */
async function requireProfileAttribute(db: Executor, sandbox: string, path: string) {
  const schema = await loadSchema(db, sandbox);
  const field = schema.profileFields.get(path);
  if (!field) {
    const message = `'${path}' is not a profile attribute of the schema (add it first: POST /v1/schema/fields)`;
    throw validationError(`field: ${message}`, [{ field: "field", message }]);
  }
}

export async function createConsentPolicy(
  db: Executor,
  sandbox: string,
  input: unknown,
): Promise<ConsentPolicy> {
  const parsed = parseInput(consentPolicyInputSchema, input, "consent policy");
  const [action] = await requireKnownMarketingActions(
    db,
    sandbox,
    [parsed.marketingAction],
    () => "marketingAction",
  );
  await requireProfileAttribute(db, sandbox, parsed.field);
  const id = randomUUID();
  const now = new Date();
  await db.query(
    sandbox,
    `INSERT INTO governance_consent_policies (sandbox, id, name, marketing_action, field, allowed_values, status, created_at, updated_at)
     VALUES ($sandbox, $1, $2, $3, $4, $5, $6, $7, $7)`,
    [id, parsed.name, action?.id, parsed.field, JSON.stringify(parsed.allowedValues), parsed.status, now],
  );
  return getConsentPolicy(db, sandbox, id);
}

export async function listConsentPolicies(db: Executor, sandbox: string): Promise<ConsentPolicy[]> {
  const rows = await db.query<ConsentRow>(
    sandbox,
    "SELECT * FROM governance_consent_policies WHERE sandbox = $sandbox ORDER BY name, id",
  );
  return rows.map(toPolicy);
}

export async function getConsentPolicy(db: Executor, sandbox: string, id: string): Promise<ConsentPolicy> {
  const [row] = await db.query<ConsentRow>(
    sandbox,
    "SELECT * FROM governance_consent_policies WHERE sandbox = $sandbox AND id = $1",
    [id],
  );
  if (!row) throw notFound("consent policy", id);
  return toPolicy(row);
}

/** Enables or disables a consent policy: exports made after it follow. */
export async function setConsentPolicyStatus(
  db: Executor,
  sandbox: string,
  id: string,
  status: ConsentPolicy["status"],
): Promise<ConsentPolicy> {
  await getConsentPolicy(db, sandbox, id);
  await db.query(
    sandbox,
    "UPDATE governance_consent_policies SET status = $1, updated_at = $2 WHERE sandbox = $sandbox AND id = $3",
    [status, new Date(), id],
  );
  return getConsentPolicy(db, sandbox, id);
}

export async function deleteConsentPolicy(db: Executor, sandbox: string, id: string): Promise<void> {
  await getConsentPolicy(db, sandbox, id);
  await db.query(sandbox, "DELETE FROM governance_consent_policies WHERE sandbox = $sandbox AND id = $1", [
    id,
  ]);
}

/** What an export for these marketing actions must check per profile: each enabled consent policy's field and values. */
export interface ConsentRequirement {
  policy: string;
  field: string;
  allowedValues: ConsentValue[];
}

/**
 * The consent an export made for `marketingActions` (ids or names) requires: the enabled consent
 * policies of those actions. Example: `await consentRequirements(store, "prod", ["email_targeting"])`.
 */
export async function consentRequirements(
  db: Executor,
  sandbox: string,
  marketingActions: readonly string[],
): Promise<ConsentRequirement[]> {
  const policies = (await listConsentPolicies(db, sandbox)).filter((p) => p.status === "enabled");
  if (!policies.length) return [];
  const actions = await listMarketingActions(db, sandbox);
  const ids = new Set(marketingActions.map((a) => findMarketingAction(actions, a)?.id).filter(Boolean));
  return policies
    .filter((p) => ids.has(p.marketingAction))
    .map((p) => ({ policy: p.name, field: p.field, allowedValues: p.allowedValues }));
}
