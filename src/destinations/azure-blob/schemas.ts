import { z } from "zod";

/**
 * Either a connection string (`DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...`, or
 * one with `SharedAccessSignature=...`) or a SAS URL (the blob service's or one container's URL
 * with its `?sv=...&sig=...` token). Both are secrets: an account key or a signature.
 */
export const azureBlobConnectionSchema = z
  .object({
    connectionString: z
      .string()
      .trim()
      .min(1)
      .optional()
      .refine(
        (value) =>
          value === undefined || /(^|;)\s*(AccountName|BlobEndpoint|UseDevelopmentStorage)\s*=/i.test(value),
        "must be an Azure Storage connection string (DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...)",
      )
      .describe("Storage account connection string, from the portal's Access keys page"),
    sasUrl: z
      .url({ protocol: /^https?$/, error: "must be an https:// URL with a SAS token" })
      .optional()
      .refine(
        (value) => value === undefined || new URL(value).searchParams.has("sig"),
        "must carry a SAS token (…?sv=...&sig=...)",
      )
      .describe(
        "SAS URL of the blob service or of the container, e.g. https://acme.blob.core.windows.net/audiences?sv=...&sig=...",
      ),
  })
  .superRefine((value, context) => {
    if (value.connectionString === undefined && value.sasUrl === undefined) {
      context.addIssue({
        code: "custom",
        message: "give either connectionString or sasUrl",
        path: ["connectionString"],
      });
    } else if (value.connectionString !== undefined && value.sasUrl !== undefined) {
      context.addIssue({
        code: "custom",
        message: "give connectionString or sasUrl, not both",
        path: ["sasUrl"],
      });
    }
  });
export type AzureBlobConnection = z.infer<typeof azureBlobConnectionSchema>;

/** Azure's container naming rules: 3-63 characters, lower-case letters, digits, single hyphens. */
const containerName = z
  .string()
  .trim()
  .min(3, "must be 3 to 63 characters")
  .max(63, "must be 3 to 63 characters")
  .regex(
    /^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$/,
    "must use lower-case letters, digits and single hyphens, and start and end with a letter or digit",
  );

/** Azure's longest blob name (in characters) and most path segments in one. */
export const MAX_BLOB_NAME_CHARACTERS = 1024;
export const MAX_BLOB_SEGMENTS = 254;
/**
 * The longest folder, in UTF-8 bytes (never fewer than its characters): its prefix (with the `/`)
 * leaves room for a 255-byte file name.
 */
export const MAX_FOLDER_BYTES = MAX_BLOB_NAME_CHARACTERS - 1 - 255;

export const azureBlobDetailsSchema = z.object({
  container: containerName.describe("Container name, e.g. audiences"),
  folderPath: z
    .string()
    .optional()
    .refine(
      (value) => value === undefined || !value.split("/").some((part) => part === "." || part === ".."),
      "must not contain '.' or '..' segments",
    )
    .refine(
      (value) => Buffer.byteLength(blobPrefix(value)) <= MAX_FOLDER_BYTES + 1,
      `must be at most ${MAX_FOLDER_BYTES} bytes (UTF-8), leaving room for a 255-byte file name in Azure's ${MAX_BLOB_NAME_CHARACTERS}-character blob names`,
    )
    .refine(
      (value) => blobPrefix(value).split("/").length <= MAX_BLOB_SEGMENTS,
      `must have at most ${MAX_BLOB_SEGMENTS - 1} segments, leaving one for the file name in Azure's ${MAX_BLOB_SEGMENTS}`,
    )
    .describe(
      "Folder (name prefix) inside the container, e.g. exports/daily; the container's root when omitted",
    ),
});
export type AzureBlobDetails = z.infer<typeof azureBlobDetailsSchema>;

/** The blob name prefix of the folder: `exports/daily/` for " /exports/daily/ ", `""` for the root. */
export function blobPrefix(folderPath: string | undefined): string {
  const trimmed = (folderPath ?? "").trim().replace(/^\/+|\/+$/g, "");
  return trimmed ? `${trimmed}/` : "";
}
