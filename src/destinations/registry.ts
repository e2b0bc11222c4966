import { azureBlobDestination } from "./azure-blob/index.ts";
import { localDestination } from "./local/index.ts";
import { s3Destination } from "./s3/index.ts";
import { sftpDestination } from "./sftp/index.ts";
import type { DestinationDefinition } from "./types.ts";

/** Every destination in the catalog. A connector joins by adding its definition list here. */
export const destinationDefinitions: DestinationDefinition[] = [
  localDestination,
  sftpDestination,
  s3Destination,
  azureBlobDestination,
];
