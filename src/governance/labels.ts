import { z } from "zod";
import { conflict, notFound, parseInput, validationError } from "../errors/index.ts";
import { listFields } from "../schema/index.ts";
import type { Executor } from "../store/index.ts";

/** A data-usage label: a core one (C1-C12, I1-I2, S1-S2) or one of the sandbox's own. */
export interface Label {
  name: string;
  category: "contract" | "identity" | "sensitive" | "custom";
  description: string;
  core: boolean;
}

const core = (name: string, category: Label["category"], description: string): Label => ({
  name,
  category,
  description,
  core: true,
});

/** The core labels, as REFERENCE's governance section names them. */
export const CORE_LABELS: readonly Label[] = [
  core("C1", "contract", "Export only aggregated data, never individual or device identifiers"),
  core("C2", "contract", "No export to third parties"),
  core("C3", "contract", "No combining with directly identifiable data"),
  core("C4", "contract", "No ad or content targeting, on site or across sites (implies C5, C6, C7)"),
  core("C5", "contract", "No cross-site interest-based targeting"),
  core("C6", "contract", "No on-site advertising"),
  core("C7", "contract", "No on-site content targeting"),
  core("C8", "contract", "No measurement of site or app usage"),
  core("C9", "contract", "No data science workflows"),
  core("C10", "contract", "No stitched-identity activation"),
  core("C11", "contract", "No sharing with segment-match partners"),
  core("C12", "contract", "No export of any kind"),
  core("I1", "identity", "Directly identifying: the data names or reaches a person (name, email, phone)"),
  core(
    "I2",
    "identity",
    "Indirectly identifying: identifies a person combined with other data (ids, birth date)",
  ),
  core("S1", "sensitive", "Precise geographic location (latitude and longitude, street address)"),
  core("S2", "sensitive", "Broad geographic area (city, region, country)"),
];

/** A label's name, as schema fields carry it (src/schema's `labels`). */
export const labelNameSchema = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9_-]{0,31}$/,
    "must be a short name of letters, digits, '_' and '-' (e.g. PII-EU)",
  );

export const customLabelInputSchema = z.object({
  name: labelNameSchema,
  description: z.string().max(500).default(""),
});

interface LabelRow {
  name: string;
  description: string;
}

/** The core labels, then the sandbox's own by name. */
export async function listLabels(db: Executor, sandbox: string): Promise<Label[]> {
  const rows = await db.query<LabelRow>(
    sandbox,
    "SELECT name, description FROM governance_labels WHERE sandbox = $sandbox ORDER BY name",
  );
  return [
    ...CORE_LABELS,
    ...rows.map((r) => ({
      name: r.name,
      category: "custom" as const,
      description: r.description,
      core: false,
    })),
  ];
}

/** Names of the labels known in the sandbox (core and custom). */
export async function knownLabelNames(db: Executor, sandbox: string): Promise<Set<string>> {
  return new Set((await listLabels(db, sandbox)).map((l) => l.name));
}

/**
 * Refuses labels the sandbox does not know, naming each with the field that carries it
 * (`field` spells the path for the caller, `labels.1` by default).
 */
export async function requireKnownLabels(
  db: Executor,
  sandbox: string,
  labels: readonly string[],
  field: (index: number) => string = (i) => `labels.${i}`,
): Promise<void> {
  const known = await knownLabelNames(db, sandbox);
  const issues = labels.flatMap((label, i) =>
    known.has(label)
      ? []
      : [
          {
            field: field(i),
            message: `${field(i)}: unknown data-usage label '${label}'; use a core label (C1-C12, I1, I2, S1, S2) or create it first (POST /v1/labels)`,
          },
        ],
  );
  if (issues.length) throw validationError(issues.map((i) => i.message).join("; "), issues, "unknown_label");
}

export async function createLabel(db: Executor, sandbox: string, input: unknown): Promise<Label> {
  const label = parseInput(customLabelInputSchema, input, "label");
  const clash = [...(await knownLabelNames(db, sandbox))].find(
    (name) => name.toLowerCase() === label.name.toLowerCase(),
  );
  if (clash) throw conflict("label_exists", `The label '${clash}' exists already`);
  await db.query(
    sandbox,
    "INSERT INTO governance_labels (sandbox, name, description, created_at) VALUES ($sandbox, $1, $2, $3)",
    [label.name, label.description, new Date()],
  );
  return { name: label.name, category: "custom", description: label.description, core: false };
}

/**
 * Deletes a custom label; refused for core labels, and while a field carries it or a policy's
 * expression names it (either would then name a label that no longer exists).
 */
export async function deleteLabel(
  db: Executor,
  sandbox: string,
  name: string,
  policiesNaming: (label: string) => Promise<string[]>,
): Promise<void> {
  if (CORE_LABELS.some((l) => l.name === name))
    throw conflict("core_label", `'${name}' is a core label; core labels cannot be deleted`);
  const [row] = await db.query<LabelRow>(
    sandbox,
    "SELECT name FROM governance_labels WHERE sandbox = $sandbox AND name = $1",
    [name],
  );
  if (!row) throw notFound("label", name);
  const fields = (await listFields(db, sandbox)).filter((f) => f.labels.includes(name)).map((f) => f.path);
  const policies = await policiesNaming(name);
  if (fields.length || policies.length) {
    const users = [...fields.map((f) => `field '${f}'`), ...policies.map((p) => `policy '${p}'`)].join(", ");
    throw conflict("label_in_use", `The label '${name}' is in use by ${users}; remove it from them first`);
  }
  await db.query(sandbox, "DELETE FROM governance_labels WHERE sandbox = $sandbox AND name = $1", [name]);
}
