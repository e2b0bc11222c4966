import type { DestinationDefinition } from "../types.ts";
import { checkWritable, resolveFolder } from "./folder.ts";
import {
  type LocalConnection,
  type LocalDetails,
  localConnectionSchema,
  localDetailsSchema,
} from "./schemas.ts";
import { openLocalSession } from "./session.ts";

/**
 * Files written to a folder on the Herald server's own disk: for on-premise pickup (a mounted share,
 * a pickup job) and for demos. Delivery is atomic: a temporary in the same folder, flushed, renamed.
 */
export const localDestination: DestinationDefinition<LocalConnection, LocalDetails> = {
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
      const { folder, what } = await resolveFolder(connection, details);
      await checkWritable(folder, what);
    },
    async open(connection, details) {
      const { folder } = await resolveFolder(connection, details);
      return openLocalSession(folder);
    },
  },
};
