import type { Readable } from "node:stream";
import { type ContainerClient, RestError } from "@azure/storage-blob";
import { HeraldError, validationError } from "../../errors/index.ts";
import { withoutSecrets } from "../shown-url.ts";
import { assertPlainFileName, isTemporaryName } from "../temporary-names.ts";
import { trackedUpload } from "../tracked-upload.ts";
import type { FileSession, PutResult } from "../types.ts";
import { type AzureCredentialField, accountUrlOf, azureFailure } from "./client.ts";
import { MAX_BLOB_NAME_CHARACTERS, MAX_BLOB_SEGMENTS } from "./schemas.ts";

/** Blocks of 8 MiB, four buffers (three uploads) in flight: about 32 MiB of memory per upload. */
export const BLOCK_SIZE = 8 * 1024 * 1024;
export const BLOCKS_IN_FLIGHT = 4;

/**
 * A session on one container folder. Atomicity needs no rename here: a block blob's staged blocks
 * stay invisible until the block list is committed, which happens once, after the last block. If
 * the body fails or the caller aborts, nothing is committed, so nothing new appears under the name
 * and a previous file of that name stays as it was.
 */
export function openAzureBlobSession(
  client: ContainerClient,
  container: string,
  prefix: string,
  credential: AzureCredentialField,
): FileSession {
  const endpoint = accountUrlOf(client);
  const folder = `container '${container}'${prefix ? ` folder '${prefix.slice(0, -1)}'` : ""}`;
  const fail = (error: unknown, action: string) =>
    azureFailure(error, { container, endpoint, credential, action });

  /** A folder saved before details.folderPath had a maximum may still make a name Azure refuses. */
  function assertBlobNameFits(name: string): void {
    const blobName = prefix + name;
    const characters = [...blobName].length;
    const segments = blobName.split("/").length;
    const problem =
      characters > MAX_BLOB_NAME_CHARACTERS
        ? `is ${characters} characters, over Azure's ${MAX_BLOB_NAME_CHARACTERS}`
        : segments > MAX_BLOB_SEGMENTS
          ? `has ${segments} path segments, over Azure's ${MAX_BLOB_SEGMENTS}`
          : undefined;
    if (problem) {
      throw validationError(
        `Blob name '${blobName}' in container '${container}' ${problem}: shorten details.folderPath or the file name`,
        [{ field: "details.folderPath", message: `the blob name ${problem}` }],
        "azure_blob_name_too_long",
      );
    }
  }

  async function putFile(name: string, body: Readable, options: { signal?: AbortSignal } = {}) {
    assertPlainFileName(name);
    assertBlobNameFits(name);
    const { signal } = options;
    const blob = client.getBlockBlobClient(prefix + name);
    // The SDK passes the signal to the final commit only: ending the body stops the staging too,
    // and uncommitted blocks are never visible.
    const { bytes } = await trackedUpload(
      body,
      signal,
      (bytes) =>
        blob.uploadStream(bytes, BLOCK_SIZE, BLOCKS_IN_FLIGHT, signal ? { abortSignal: signal } : {}),
      (error) => fail(error, `writing '${name}' to ${folder}`),
    );
    return { location: withoutSecrets(blob.url), bytes } satisfies PutResult;
  }

  return {
    putFile,
    async getFile(name) {
      assertPlainFileName(name);
      try {
        return await client.getBlockBlobClient(prefix + name).downloadToBuffer();
      } catch (error) {
        // A download starts with a HEAD request: a missing blob is a bodiless 404, without a code.
        if (error instanceof RestError && error.statusCode === 404 && error.code !== "ContainerNotFound") {
          throw new HeraldError("not_found", "file_not_found", `File '${name}' does not exist in ${folder}`);
        }
        throw fail(error, `reading '${name}' from ${folder}`);
      }
    },
    async listFiles() {
      const names: string[] = [];
      try {
        for await (const item of client.listBlobsByHierarchy("/", { prefix })) {
          if (item.kind !== "blob") continue;
          const name = item.name.slice(prefix.length);
          if (name && !isTemporaryName(name)) names.push(name);
        }
      } catch (error) {
        throw fail(error, `listing ${folder}`);
      }
      return names.sort();
    },
    async deleteFile(name) {
      assertPlainFileName(name);
      try {
        await client.getBlockBlobClient(prefix + name).deleteIfExists();
      } catch (error) {
        throw fail(error, `deleting '${name}' from ${folder}`);
      }
    },
    /**
     * Nothing to remove: an interrupted upload leaves only uncommitted blocks, which no listing or
     * read shows and which Azure Storage deletes by itself after seven days (the next upload of the
     * same name discards them at once). Herald never writes placeholder blobs.
     */
    async cleanupTemporaries() {
      return 0;
    },
    async close() {},
  };
}
