import {
  DeleteObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { temporaryName } from "../temporary-names.ts";
import type { DestinationDefinition } from "../types.ts";
import { createS3Client, s3Failure } from "./client.ts";
import {
  folderPrefix,
  type S3Connection,
  type S3Details,
  s3ConnectionSchema,
  s3DetailsSchema,
} from "./schemas.ts";
import { openS3Session } from "./session.ts";

/**
 * Amazon S3 and S3-compatible stores (MinIO, Ceph, ... through `endpoint` and `forcePathStyle`).
 * A folder is a key prefix: it needs no creating, so only the bucket can be missing.
 */
export const s3Destination: DestinationDefinition<S3Connection, S3Details> = {
  id: "amazon-s3",
  name: "Amazon S3",
  description: "Files in an Amazon S3 bucket or an S3-compatible object store, uploaded in parallel parts",
  category: "cloud_storage",
  exportType: "profile",
  connectionSchema: s3ConnectionSchema,
  secretFields: ["secretAccessKey", "sessionToken"],
  detailsSchema: s3DetailsSchema,
  connector: {
    kind: "file",
    /**
     * Checks, in order: the bucket exists and the credentials work (HeadBucket), the folder can be
     * listed (ListObjectsV2), and written (a hidden probe object put, then deleted).
     */
    async validate(connection, details, signal) {
      const client = createS3Client(connection, "validate");
      const { bucket } = details;
      const prefix = folderPrefix(details.folderPath);
      const options = signal ? { abortSignal: signal } : {};
      let action = `checking bucket '${bucket}'`;
      try {
        signal?.throwIfAborted();
        await client.send(new HeadBucketCommand({ Bucket: bucket }), options).catch((error: unknown) => {
          // HeadBucket answers without a body, so a 403 may be wrong credentials or a policy that
          // does not grant it: the listing below names which.
          const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
          if (status !== 403) throw error;
        });
        action = `listing s3://${bucket}/${prefix}`;
        await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }), options);
        action = `writing to s3://${bucket}/${prefix}`;
        const probe = prefix + temporaryName("write-check");
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: probe, Body: "", ContentLength: 0 }),
          options,
        );
        action = `deleting s3://${bucket}/${probe}`;
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: probe }), options);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw s3Failure(error, { connection, bucket, action });
      } finally {
        client.destroy();
      }
    },
    async open(connection, details) {
      return openS3Session({
        connection,
        client: createS3Client(connection, "session"),
        bucket: details.bucket,
        prefix: folderPrefix(details.folderPath),
      });
    },
  },
};
