import { z } from "zod";
import { conflict, notFound, parseInput, validationError } from "../errors/index.ts";
import type { Executor } from "../store/index.ts";

/**
 * What a dataflow is for. Dataflows and policies name an action by its id (`email_targeting`) or
 * its name (`Email targeting`), regardless of case; answers name it as `name`.
 */
export interface MarketingAction {
  id: string;
  name: string;
  description: string;
  core: boolean;
}

const core = (id: string, name: string, description: string): MarketingAction => ({
  id,
  name,
  description,
  core: true,
});

/** The core marketing actions, as REFERENCE's governance section names them. */
export const CORE_MARKETING_ACTIONS: readonly MarketingAction[] = [
  core("analytics", "Analytics", "Measure and analyse how customers use sites and apps"),
  core(
    "combine_with_pii",
    "Combine with directly identifiable data",
    "Join the data with data that names or reaches a person",
  ),
  core("cross_site_targeting", "Cross-site targeting", "Target ads or content across sites and apps"),
  core("data_science", "Data science", "Use the data in data science workflows (models, training)"),
  core("email_targeting", "Email targeting", "Send email campaigns to the audience"),
  core("export_to_third_party", "Export to third party", "Send the data to a party outside the company"),
  core("onsite_advertising", "Onsite advertising", "Show ads on the company's own sites and apps"),
  core("onsite_personalization", "Onsite personalization", "Personalise content on the company's own sites"),
  core("segment_match", "Segment match", "Share audiences with segment-match partners"),
  core(
    "single_identity_personalization",
    "Single identity personalization",
    "Personalise from one identity, without stitched identities",
  ),
];

export const marketingActionInputSchema = z.object({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z]/, "must start with a letter"),
  description: z.string().max(500).default(""),
});

/** The id of a custom action: its name in lower case, words joined by `_` ("Print mailing" → print_mailing). */
export function marketingActionId(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
}

interface ActionRow {
  id: string;
  name: string;
  description: string;
}

export async function listMarketingActions(db: Executor, sandbox: string): Promise<MarketingAction[]> {
  const rows = await db.query<ActionRow>(
    sandbox,
    "SELECT id, name, description FROM governance_marketing_actions WHERE sandbox = $sandbox ORDER BY name",
  );
  return [...CORE_MARKETING_ACTIONS, ...rows.map((r) => ({ ...r, core: false }))];
}

/** The action a dataflow or a policy names (by id or name, any case), or undefined. */
export function findMarketingAction(
  actions: readonly MarketingAction[],
  named: string,
): MarketingAction | undefined {
  const wanted = named.trim().toLowerCase();
  return actions.find((a) => a.id === wanted || a.name.toLowerCase() === wanted);
}

/**
 * Refuses marketing actions the sandbox does not know, naming each with its field
 * (`marketingActions.0`).
 */
export async function requireKnownMarketingActions(
  db: Executor,
  sandbox: string,
  named: readonly string[],
  field: (index: number) => string = (i) => `marketingActions.${i}`,
): Promise<MarketingAction[]> {
  const actions = await listMarketingActions(db, sandbox);
  const issues = named.flatMap((n, i) =>
    findMarketingAction(actions, n)
      ? []
      : [
          {
            field: field(i),
            message: `${field(i)}: unknown marketing action '${n}'; the actions are ${actions.map((a) => `'${a.name}'`).join(", ")} (or create one: POST /v1/marketing-actions)`,
          },
        ],
  );
  if (issues.length)
    throw validationError(issues.map((i) => i.message).join("; "), issues, "unknown_marketing_action");
  return named.map((n) => findMarketingAction(actions, n) as MarketingAction);
}

export async function createMarketingAction(
  db: Executor,
  sandbox: string,
  input: unknown,
): Promise<MarketingAction> {
  const parsed = parseInput(marketingActionInputSchema, input, "marketing action");
  const id = marketingActionId(parsed.name);
  const actions = await listMarketingActions(db, sandbox);
  const clash = findMarketingAction(actions, parsed.name) ?? actions.find((a) => a.id === id);
  if (clash) throw conflict("marketing_action_exists", `The marketing action '${clash.name}' exists already`);
  await db.query(
    sandbox,
    "INSERT INTO governance_marketing_actions (sandbox, id, name, description, created_at) VALUES ($sandbox, $1, $2, $3, $4)",
    [id, parsed.name, parsed.description, new Date()],
  );
  return { id, name: parsed.name, description: parsed.description, core: false };
}

/** Deletes a custom action; refused for core ones and while a policy or a dataflow names it. */
export async function deleteMarketingAction(
  db: Executor,
  sandbox: string,
  named: string,
  users: (action: MarketingAction) => Promise<string[]>,
): Promise<MarketingAction> {
  const action = findMarketingAction(await listMarketingActions(db, sandbox), named);
  if (!action) throw notFound("marketing action", named);
  if (action.core)
    throw conflict(
      "core_marketing_action",
      `'${action.name}' is a core marketing action; it cannot be deleted`,
    );
  const using = await users(action);
  if (using.length)
    throw conflict(
      "marketing_action_in_use",
      `The marketing action '${action.name}' is in use by ${using.join(", ")}; remove it from them first`,
    );
  await db.query(sandbox, "DELETE FROM governance_marketing_actions WHERE sandbox = $sandbox AND id = $1", [
    action.id,
  ]);
  return action;
}
