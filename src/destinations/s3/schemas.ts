import { z } from "zod";
import { urlWithoutCredentials } from "../shown-url.ts";

export const s3ConnectionSchema = z.object({
  accessKeyId: z
    .string()
    .trim()
    .min(1)
    .describe("Access key id of an IAM user or role, e.g. AKIAIOSFODNN7EXAMPLE"),
  secretAccessKey: z.string().min(1).describe("Secret access key paired with the access key id"),
  sessionToken: z
    .string()
    .min(1)
    .optional()
    .describe("Session token, for temporary credentials (from STS: an assumed role, SSO)"),
  region: z
    .string()
    .trim()
    .regex(/^[a-z0-9-]+$/, "must be a region name such as eu-west-1 (lower-case letters, digits, hyphens)")
    .describe("Region of the bucket, e.g. eu-west-1; for S3-compatible stores, the region they expect"),
  endpoint: urlWithoutCredentials("accessKeyId and secretAccessKey")
    .optional()
    .describe("Endpoint of an S3-compatible store (MinIO, Ceph, ...), e.g. https://minio.example.com:9000"),
  forcePathStyle: z
    .boolean()
    .optional()
    .describe(
      "Address buckets as <endpoint>/<bucket> instead of <bucket>.<endpoint> (most S3-compatible stores)",
    ),
});
export type S3Connection = z.infer<typeof s3ConnectionSchema>;

/** S3's bucket naming rules: 3-63 characters, lower-case letters, digits, dots and hyphens. */
const bucketName = z
  .string()
  .trim()
  .min(3, "must be 3 to 63 characters")
  .max(63, "must be 3 to 63 characters")
  .regex(
    /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/,
    "must use lower-case letters, digits, dots and hyphens, and start and end with a letter or digit",
  )
  .refine((name) => !/^\d+\.\d+\.\d+\.\d+$/.test(name), "must not be shaped like an IP address")
  .refine((name) => !name.includes(".."), "must not contain two dots in a row");

/** S3's longest key, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** The longest folder: its key prefix (with the `/`) leaves room for a 255-byte file name. */
export const MAX_FOLDER_BYTES = MAX_KEY_BYTES - 1 - 255;

export const s3DetailsSchema = z.object({
  bucket: bucketName.describe("Bucket name, e.g. acme-audiences"),
  folderPath: z
    .string()
    .optional()
    .refine(
      (value) => value === undefined || !value.split("/").some((part) => part === "." || part === ".."),
      "must not contain '.' or '..' segments",
    )
    .refine(
      (value) => Buffer.byteLength(folderPrefix(value)) <= MAX_FOLDER_BYTES + 1,
      `must be at most ${MAX_FOLDER_BYTES} bytes (UTF-8), leaving room for a 255-byte file name in S3's ${MAX_KEY_BYTES}-byte keys`,
    )
    .describe("Folder (key prefix) inside the bucket, e.g. exports/daily; the bucket's root when omitted"),
});
export type S3Details = z.infer<typeof s3DetailsSchema>;

/** The key prefix of the folder: `exports/daily/` for " /exports/daily/ ", `""` for the root. */
export function folderPrefix(folderPath: string | undefined): string {
  const trimmed = (folderPath ?? "").trim().replace(/^\/+|\/+$/g, "");
  return trimmed ? `${trimmed}/` : "";
}
