import type { DestinationDefinition } from "../types.ts";
import { type AllowedRoots, checkWritable, resolveFolder } from "./folder.ts";
import {
  type LocalConnection,
  type LocalDetails,
  localConnectionSchema,
  localDetailsSchema,
} from "./schemas.ts";
import { openLocalSession } from "./session.ts";

export type { AllowedRoots } from "./folder.ts";

/**
 * Files written to a folder on the Herald server's own disk: for on-premise pickup (a mounted share,
 * a pickup job) and for demos. Delivery is atomic: a temporary in the same folder, flushed, renamed.
 * An account's root must be one of `allowedRoots` or inside one; the server passes HERALD_LOCAL_ROOTS
 * (src/api/runtime.ts), e.g. `createLocalDestination({ allowedRoots: ["/srv/herald/exports"] })`.
 */
export function createLocalDestination(options: {
  allowedRoots: AllowedRoots;
}): DestinationDefinition<LocalConnection, LocalDetails> {
  const { allowedRoots } = options;
  return {
    id: "local",
    name: "Local folder",
    description: "Files written to a folder on the Herald server's disk, for on-premise pickup and demos",
    category: "cloud_storage",
    exportType: "profile",
    connectionSchema: localConnectionSchema,
    secretFields: [],
    detailsSchema: localDetailsSchema,
    connector: {
      kind: "file",
      async validate(connection, details, signal) {
        signal?.throwIfAborted();
        const { folder, what } = await resolveFolder(connection, details, allowedRoots);
        await checkWritable(folder, what);
      },
      async open(connection, details) {
        const { folder } = await resolveFolder(connection, details, allowedRoots);
        return openLocalSession(folder);
      },
    },
  };
}

/**
 * The catalog's entry, taking any absolute root: for tests and library use. The server replaces it
 * with one limited to HERALD_LOCAL_ROOTS (src/api/runtime.ts).
 */
export const localDestination = createLocalDestination({ allowedRoots: "any" });
