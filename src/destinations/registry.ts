import { localDestination } from "./local/index.ts";
import type { DestinationDefinition } from "./types.ts";

/** Every destination in the catalog. A connector joins by adding its definition list here. */
export const destinationDefinitions: DestinationDefinition[] = [localDestination];
