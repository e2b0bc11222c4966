import { azureBlobDestination } from "./azure-blob/index.ts";
import { eventHubsDestination } from "./event-hubs/index.ts";
import { httpDestination } from "./http/index.ts";
import { kinesisDestination } from "./kinesis/index.ts";
import { localDestination } from "./local/index.ts";
import { presetDestinations } from "./presets/index.ts";
import { s3Destination } from "./s3/index.ts";
import { sftpDestination } from "./sftp/index.ts";
import type { DestinationDefinition } from "./types.ts";

/** Every destination in the catalog. A connector joins by adding its definition list here. */
export const destinationDefinitions: DestinationDefinition[] = [
  localDestination,
  sftpDestination,
  s3Destination,
  azureBlobDestination,
  kinesisDestination,
  eventHubsDestination,
  httpDestination,
  ...presetDestinations,
];
