import { HeraldError } from "../errors/index.ts";
import type { Store } from "../store/index.ts";
import type { AudienceQuery } from "./audience-query.ts";
import type { FileOptions } from "./export/index.ts";

/**
 * A CSV written without quoting (`quote: ""`) cannot hold a value containing its delimiter or a
 * line break: the engines write such a value as it is, and its row breaks apart. Before any file is
 * written, the audience is checked; if a value would break its row the run fails, saying how many
 * profiles and what to change, rather than deliver a file whose rows do not line up.
 */
export async function refuseUnquotableValues(
  store: Store,
  sandbox: string,
  query: AudienceQuery,
  options: FileOptions,
): Promise<void> {
  const columns = query.columnNames;
  if (options.format !== "csv" || options.csv.quote !== "" || !columns.length) return;
  const delimiter = `$${query.params.length + 1}`;
  const breaks = columns.map((name) => {
    const text = `CAST(t.${store.dialect.ident(name)} AS TEXT)`;
    return `strpos(${text}, ${delimiter}) > 0 OR strpos(${text}, chr(10)) > 0 OR strpos(${text}, chr(13)) > 0`;
  });
  const [row] = await store.query<{ n: number }>(
    sandbox,
    `SELECT count(*) AS n FROM (${query.sql}) AS t WHERE ${breaks.join(" OR ")}`,
    [...query.params, options.csv.delimiter],
  );
  const profiles = Number(row?.n ?? 0);
  if (profiles > 0) {
    const shown = options.csv.delimiter === "\t" ? "tab" : `'${options.csv.delimiter}'`;
    throw new HeraldError(
      "validation",
      "unquotable_values",
      `fileOptions.csv.quote: ${profiles} profile(s) have a value holding the delimiter ${shown} or a line break, which a CSV without quoting cannot hold (their rows would break apart); choose a delimiter the data never holds, or quote '"'`,
      [{ field: "fileOptions.csv.quote", message: `${profiles} profile(s) with values that need quoting` }],
    );
  }
}
