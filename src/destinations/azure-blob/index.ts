import type { ContainerClient } from "@azure/storage-blob";
import { temporaryName } from "../temporary-names.ts";
import type { DestinationDefinition } from "../types.ts";
import { accountUrlOf, azureFailure, containerClientFor, credentialFieldOf } from "./client.ts";
import {
  type AzureBlobConnection,
  type AzureBlobDetails,
  azureBlobConnectionSchema,
  azureBlobDetailsSchema,
  blobPrefix,
} from "./schemas.ts";
import { openAzureBlobSession } from "./session.ts";

/** Block id of the write check: any base64 text works; one fixed id keeps it to one staged block. */
const PROBE_BLOCK_ID = Buffer.from("herald-write-check").toString("base64");

/**
 * Azure Blob Storage, with a connection string or a SAS URL. A folder is a name prefix: it needs no
 * creating, so only the container can be missing.
 */
export const azureBlobDestination: DestinationDefinition<AzureBlobConnection, AzureBlobDetails> = {
  id: "azure-blob",
  name: "Azure Blob Storage",
  description: "Files in an Azure Blob Storage container, uploaded as blocks in parallel",
  category: "cloud_storage",
  exportType: "profile",
  connectionSchema: azureBlobConnectionSchema,
  secretFields: ["connectionString", "sasUrl"],
  detailsSchema: azureBlobDetailsSchema,
  connector: {
    kind: "file",
    /**
     * Checks, in order: the container exists and the credentials work (a one-blob listing of the
     * folder), and the folder is writable: one block is staged under a hidden temporary name and
     * never committed, so no blob appears (Azure drops uncommitted blocks after seven days) and no
     * delete permission is needed.
     */
    async validate(connection, details, signal) {
      const { container } = details;
      const prefix = blobPrefix(details.folderPath);
      const client: ContainerClient = containerClientFor(connection, container, "validate");
      const options = signal ? { abortSignal: signal } : {};
      let action = `listing container '${container}'`;
      try {
        signal?.throwIfAborted();
        await client
          .listBlobsFlat({ prefix, ...options })
          .byPage({ maxPageSize: 1 })
          .next();
        action = `writing to container '${container}'${prefix ? ` folder '${prefix.slice(0, -1)}'` : ""}`;
        const probe = client.getBlockBlobClient(prefix + temporaryName("write-check"));
        await probe.stageBlock(PROBE_BLOCK_ID, Buffer.from("x"), 1, options);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw azureFailure(error, {
          container,
          endpoint: accountUrlOf(client),
          credential: credentialFieldOf(connection),
          action,
        });
      }
    },
    async open(connection, details) {
      const client = containerClientFor(connection, details.container, "session");
      return openAzureBlobSession(
        client,
        details.container,
        blobPrefix(details.folderPath),
        credentialFieldOf(connection),
      );
    },
  },
};
