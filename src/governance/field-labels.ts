import { notFound } from "../errors/index.ts";
import {
  addField,
  type Field,
  type FieldDefinitionInput,
  type FieldEntity,
  listFields,
  setFieldLabels,
} from "../schema/index.ts";
import type { Executor, Store } from "../store/index.ts";
import { refuseEditViolations } from "./edit-guard.ts";
import type { ActiveDataflows } from "./enforcement.ts";
import { requireKnownLabels } from "./labels.ts";

/**
 * Adds a schema field whose labels the sandbox knows (core or custom). The schema checks a label's
 * spelling; whether it exists is governance's to say, since custom labels live here. A new field
 * is used by no dataflow yet, so no policy check is needed.
 */
export async function addLabelledField(
  store: Store,
  sandbox: string,
  input: FieldDefinitionInput,
): Promise<Field> {
  await requireKnownLabels(store, sandbox, input.labels ?? []);
  return addField(store, sandbox, input);
}

/**
 * Replaces a field's labels: each must be known, and the change is refused when a label it adds
 * would make an active dataflow reading or exporting the field violate an enabled policy.
 */
export async function labelField(
  db: Executor,
  sandbox: string,
  target: { entity: FieldEntity; path: string },
  labels: readonly string[],
  activeDataflows?: ActiveDataflows,
): Promise<Field> {
  await requireKnownLabels(db, sandbox, labels);
  const field = (await listFields(db, sandbox)).find(
    (f) => f.entity === target.entity && f.path === target.path,
  );
  if (!field) throw notFound(`${target.entity} field`, target.path);
  const relabelled: Field = { ...field, labels: [...new Set(labels)] };
  await refuseEditViolations(
    db,
    sandbox,
    activeDataflows,
    `Labelling field '${field.path}' ${labels.join(", ")}`,
    (facts) => {
      const swap = (fields: ReadonlyMap<string, Field>) =>
        new Map(
          [...fields].map(([path, f]) => [
            path,
            f.entity === field.entity && path === field.path ? relabelled : f,
          ]),
        );
      const identities = new Map(
        [...facts.schema.identities].map(([ns, f]) => [
          ns,
          f.entity === field.entity && f.path === field.path ? relabelled : f,
        ]),
      );
      return {
        ...facts,
        schema: {
          profileFields: swap(facts.schema.profileFields),
          eventFields: swap(facts.schema.eventFields),
          identities,
        },
      };
    },
  );
  return setFieldLabels(db, sandbox, field, labels);
}
