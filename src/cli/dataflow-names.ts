import { type Dataflow, listDataflows } from "../activation/index.ts";
import { conflict, HeraldError } from "../errors/index.ts";
import type { Executor } from "../store/index.ts";

/**
 * The id of the dataflow a user named on the command line: its id, or its exact name when one
 * dataflow has it. An unknown one is refused naming it; a name several dataflows share is refused
 * listing their ids.
 */
export async function resolveDataflowId(db: Executor, sandbox: string, given: string): Promise<string> {
  const dataflows = await listDataflows(db, sandbox);
  if (dataflows.some((d) => d.id === given)) return given;
  const named = dataflows.filter((d) => d.name === given);
  const [only] = named;
  if (only && named.length === 1) return only.id;
  if (named.length > 1)
    throw conflict(
      "ambiguous_dataflow_name",
      `${named.length} dataflows are named '${given}': give one of their ids (${named.map((d) => d.id).join(", ")})`,
    );
  throw new HeraldError(
    "not_found",
    "dataflow_not_found",
    `no dataflow has the id or the name '${given}' (herald dataflows list shows them)`,
  );
}

/** Dataflows' names by id, for lines that show runs (a deleted dataflow's runs keep its id). */
export async function dataflowNames(db: Executor, sandbox: string): Promise<Map<string, string>> {
  const dataflows: Dataflow[] = await listDataflows(db, sandbox);
  return new Map(dataflows.map((d) => [d.id, d.name]));
}
