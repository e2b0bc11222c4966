import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { HeraldError, validationError } from "../../errors/index.ts";
import {
  assertPlainFileName,
  isStaleTemporary,
  isTemporaryName,
  STALE_TEMPORARY_AGE_MS,
  TEMPORARY_PREFIX,
} from "../temporary-names.ts";
import { trackedUpload } from "../tracked-upload.ts";
import type { FileSession, PutResult } from "../types.ts";
import { s3Failure } from "./client.ts";
import { MAX_KEY_BYTES, type S3Connection } from "./schemas.ts";

/**
 * Parts of 8 MiB, four in flight: about 40 MiB of memory per upload, enough to keep a fast link
 * busy. S3 allows 10,000 parts, so one file may be up to 80 GiB; exports split long before that.
 */
export const PART_SIZE = 8 * 1024 * 1024;
export const PARTS_IN_FLIGHT = 4;

export interface S3Folder {
  connection: S3Connection;
  client: S3Client;
  bucket: string;
  /** Key prefix of the folder, `""` or ending in `/`. */
  prefix: string;
}

/**
 * The client an upload sends through: once `signal` is aborted, the requests that write the
 * object (a part, the single PUT of a small file, the completion that makes a multipart upload
 * visible) are cancelled in flight and refused before they are sent; the others (creating and
 * aborting the multipart upload) go through, so Upload still aborts its multipart upload. Without
 * it, an abort that comes once Upload has read the whole body (ending the body then changes
 * nothing) would let the file appear.
 */
function writesUntilAborted(client: S3Client, signal: AbortSignal | undefined): S3Client {
  if (!signal) return client;
  const through = Object.create(client) as S3Client;
  const send = (command: Parameters<S3Client["send"]>[0], options?: { abortSignal?: AbortSignal }) => {
    const writes = [UploadPartCommand, PutObjectCommand, CompleteMultipartUploadCommand].some(
      (type) => command instanceof type,
    );
    if (!writes) return client.send(command, options);
    // Checked right before completing too: an abort never lets the file appear after it.
    if (signal.aborted) return Promise.reject(signal.reason);
    return client.send(command, { ...options, abortSignal: signal });
  };
  through.send = send as S3Client["send"];
  return through;
}

/**
 * A session on one bucket folder. Atomicity needs no rename here: an S3 object appears only once
 * complete, so a file goes straight to its final key as a multipart upload; if the body fails or
 * the caller aborts, the upload is aborted and nothing ever appears under the name. Uploads whose
 * process died before it could abort them are aborted by `cleanupTemporaries`.
 */
export function openS3Session(folder: S3Folder): FileSession {
  const { connection, client, bucket, prefix } = folder;
  const folderUrl = `s3://${bucket}/${prefix}`;
  const fail = (error: unknown, action: string) => s3Failure(error, { connection, bucket, action });
  // Keys this session is uploading: cleanup never aborts those.
  const uploading = new Set<string>();

  async function putFile(name: string, body: Readable, options: { signal?: AbortSignal } = {}) {
    assertPlainFileName(name);
    const { signal } = options;
    const key = prefix + name;
    const location = `s3://${bucket}/${key}`;
    // A folder saved before details.folderPath had a maximum may still make a key S3 refuses.
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
      throw validationError(
        `S3 key ${location} is ${Buffer.byteLength(key)} bytes, over S3's ${MAX_KEY_BYTES}: shorten details.folderPath (${Buffer.byteLength(prefix)} bytes) or the file name`,
        [{ field: "details.folderPath", message: `the key would be over ${MAX_KEY_BYTES} bytes` }],
        "s3_key_too_long",
      );
    }
    uploading.add(key);
    try {
      // Ending the body makes Upload stop reading; refusing its writes (`writesUntilAborted`) makes
      // it fail the parts in flight and the completion. Either way Upload aborts the multipart
      // upload before done() rejects (its own abort() would reject first, clean up later).
      const { bytes } = await trackedUpload(
        body,
        signal,
        (bytes) =>
          new Upload({
            client: writesUntilAborted(client, signal),
            params: { Bucket: bucket, Key: key, Body: bytes },
            partSize: PART_SIZE,
            queueSize: PARTS_IN_FLIGHT,
            leavePartsOnError: false,
          }).done(),
        (error) => fail(error, `writing ${location}`),
      );
      return { location, bytes } satisfies PutResult;
    } finally {
      uploading.delete(key);
    }
  }

  async function* multipartUploads() {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page: ListMultipartUploadsCommandOutput = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          Prefix: prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
      yield* page.Uploads ?? [];
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** When an upload last received a part (or started, if it has none). */
  async function lastActivity(key: string, uploadId: string, initiated: Date): Promise<Date> {
    let latest = initiated.getTime();
    let marker: string | undefined;
    for (;;) {
      const page = await client.send(
        new ListPartsCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          ...(marker ? { PartNumberMarker: marker } : {}),
        }),
      );
      for (const part of page.Parts ?? []) latest = Math.max(latest, part.LastModified?.getTime() ?? 0);
      if (!page.IsTruncated) return new Date(latest);
      marker = page.NextPartNumberMarker;
    }
  }

  async function* objects(keyPrefix: string) {
    let token: string | undefined;
    for (;;) {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: keyPrefix,
          Delimiter: "/",
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      yield* page.Contents ?? [];
      if (!page.IsTruncated) return;
      token = page.NextContinuationToken;
    }
  }

  return {
    putFile,
    async getFile(name) {
      assertPlainFileName(name);
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: prefix + name }));
        if (!response.Body) return Buffer.alloc(0);
        return Buffer.from(await response.Body.transformToByteArray());
      } catch (error) {
        if (error instanceof Error && (error.name === "NoSuchKey" || error.name === "NotFound")) {
          throw new HeraldError(
            "not_found",
            "file_not_found",
            `File '${name}' does not exist in ${folderUrl}`,
          );
        }
        throw fail(error, `reading s3://${bucket}/${prefix}${name}`);
      }
    },
    async listFiles() {
      const names: string[] = [];
      try {
        for await (const object of objects(prefix)) {
          const name = (object.Key ?? "").slice(prefix.length);
          // "" is a console-made folder marker ("exports/"), not a file.
          if (name && !isTemporaryName(name)) names.push(name);
        }
      } catch (error) {
        throw fail(error, `listing ${folderUrl}`);
      }
      return names.sort();
    },
    async deleteFile(name) {
      assertPlainFileName(name);
      // S3 answers a delete of a missing key with success: nothing to tell apart.
      await client
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: prefix + name }))
        .catch((error: unknown) => {
          throw fail(error, `deleting s3://${bucket}/${prefix}${name}`);
        });
    },
    /**
     * Aborts the multipart uploads in the folder that received nothing for an hour (their process
     * died before it could abort them; S3 keeps, and bills, their parts until then), and removes
     * stale temporary objects (a write check whose delete failed). Younger uploads may be another
     * run's in progress and are left alone.
     */
    async cleanupTemporaries() {
      const now = Date.now();
      let removed = 0;
      try {
        for await (const upload of multipartUploads()) {
          const { Key: key, UploadId: uploadId, Initiated: initiated } = upload;
          if (!key || !uploadId || !initiated || uploading.has(key)) continue;
          if (key.slice(prefix.length).includes("/")) continue;
          if (now - initiated.getTime() < STALE_TEMPORARY_AGE_MS) continue;
          try {
            const active = await lastActivity(key, uploadId, initiated);
            if (now - active.getTime() < STALE_TEMPORARY_AGE_MS) continue;
            await client.send(
              new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
            );
            removed++;
          } catch (error) {
            // Completed or aborted by someone else meanwhile: nothing left to remove.
            if (!(error instanceof Error && error.name === "NoSuchUpload")) throw error;
          }
        }
        for await (const object of objects(prefix + TEMPORARY_PREFIX)) {
          const name = (object.Key ?? "").slice(prefix.length);
          if (!object.LastModified || !isStaleTemporary(name, object.LastModified, new Date(now))) continue;
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key }));
          removed++;
        }
      } catch (error) {
        throw fail(error, `cleaning up unfinished uploads in ${folderUrl}`);
      }
      return removed;
    },
    async close() {
      client.destroy();
    },
  };
}
