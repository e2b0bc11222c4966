import { z } from "zod";
import { notFound } from "../errors/index.ts";
import type { Executor } from "../store/index.ts";
import { CORE_POLICIES } from "./core-policies.ts";
import type { LabelExpression } from "./label-expression.ts";

export const policyStatusSchema = z.enum(["draft", "enabled", "disabled"]);
export type PolicyStatus = z.infer<typeof policyStatusSchema>;

/** A marketing-action policy: `marketingAction` is denied when `expression` holds on the labels in play. */
export interface Policy {
  id: string;
  name: string;
  description: string;
  /** The action's id (`export_to_third_party`). */
  marketingAction: string;
  expression: LabelExpression;
  status: PolicyStatus;
  /** Shipped with Herald: only its status may change, and it cannot be deleted. */
  core: boolean;
  createdAt: Date;
  updatedAt: Date;
}

interface PolicyRow {
  id: string;
  name: string;
  description: string;
  marketing_action: string;
  expression: string;
  status: PolicyStatus;
  core: boolean;
  created_at: Date;
  updated_at: Date;
}

const toPolicy = (r: PolicyRow): Policy => ({
  id: r.id,
  name: r.name,
  description: r.description,
  marketingAction: r.marketing_action,
  expression: JSON.parse(r.expression) as LabelExpression,
  status: r.status,
  core: r.core,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/**
 * Gives the sandbox the shipped policies it lacks, disabled. Run before policies are listed or
 * changed, so every sandbox (new ones too) has them; enforcement needs only enabled ones, which a
 * sandbox that never listed its policies cannot have.
 */
async function installCorePolicies(db: Executor, sandbox: string): Promise<void> {
  const now = new Date();
  for (const p of CORE_POLICIES) {
    await db.query(
      sandbox,
      `INSERT INTO governance_policies (sandbox, id, name, description, marketing_action, expression, status, core, created_at, updated_at)
       VALUES ($sandbox, $1, $2, $3, $4, $5, 'disabled', TRUE, $6, $6) ON CONFLICT DO NOTHING`,
      [p.id, p.name, p.description, p.marketingAction, JSON.stringify(p.expression), now],
    );
  }
}

export async function listPolicies(db: Executor, sandbox: string): Promise<Policy[]> {
  await installCorePolicies(db, sandbox);
  const rows = await db.query<PolicyRow>(
    sandbox,
    "SELECT * FROM governance_policies WHERE sandbox = $sandbox ORDER BY core DESC, name, id",
  );
  return rows.map(toPolicy);
}

/** The policies enforcement applies: the enabled ones. */
export async function enabledPolicies(db: Executor, sandbox: string): Promise<Policy[]> {
  const rows = await db.query<PolicyRow>(
    sandbox,
    "SELECT * FROM governance_policies WHERE sandbox = $sandbox AND status = 'enabled' ORDER BY name, id",
  );
  return rows.map(toPolicy);
}

/** A policy by id, or by its exact name (the CLI's way). */
export async function getPolicy(db: Executor, sandbox: string, idOrName: string): Promise<Policy> {
  const policies = await listPolicies(db, sandbox);
  const policy = policies.find((p) => p.id === idOrName) ?? policies.find((p) => p.name === idOrName);
  if (!policy) throw notFound("policy", idOrName);
  return policy;
}

export async function insertPolicy(db: Executor, sandbox: string, p: Policy): Promise<void> {
  await db.query(
    sandbox,
    `INSERT INTO governance_policies (sandbox, id, name, description, marketing_action, expression, status, core, created_at, updated_at)
     VALUES ($sandbox, $1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      p.id,
      p.name,
      p.description,
      p.marketingAction,
      JSON.stringify(p.expression),
      p.status,
      p.core,
      p.createdAt,
      p.updatedAt,
    ],
  );
}

export async function writePolicy(db: Executor, sandbox: string, p: Policy): Promise<void> {
  await db.query(
    sandbox,
    `UPDATE governance_policies SET name = $1, description = $2, marketing_action = $3, expression = $4,
       status = $5, updated_at = $6 WHERE sandbox = $sandbox AND id = $7`,
    [p.name, p.description, p.marketingAction, JSON.stringify(p.expression), p.status, p.updatedAt, p.id],
  );
}

export async function removePolicy(db: Executor, sandbox: string, id: string): Promise<void> {
  await db.query(sandbox, "DELETE FROM governance_policies WHERE sandbox = $sandbox AND id = $1", [id]);
}
