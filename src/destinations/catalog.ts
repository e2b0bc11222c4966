import { notFound } from "../errors/index.ts";
import type { DestinationCategory, DestinationDefinition } from "./types.ts";

/**
 * The catalog: every destination Herald can deliver to. A connector joins by adding its definition
 * to one of the lists registered here.
 */
export function createCatalog(definitions: readonly DestinationDefinition[]) {
  const byId = new Map(definitions.map((d) => [d.id, d]));
  return {
    list(filter: { category?: DestinationCategory; search?: string } = {}): DestinationDefinition[] {
      const needle = filter.search?.toLowerCase();
      return definitions.filter(
        (d) =>
          (!filter.category || d.category === filter.category) &&
          (!needle || `${d.id} ${d.name} ${d.description}`.toLowerCase().includes(needle)),
      );
    },
    get(id: string): DestinationDefinition {
      const definition = byId.get(id);
      if (!definition) throw notFound("destination", id);
      return definition;
    },
  };
}

export type Catalog = ReturnType<typeof createCatalog>;
