import { S3Client } from "@aws-sdk/client-s3";
import { HeraldError } from "../../errors/index.ts";
import type { S3Connection } from "./schemas.ts";

/**
 * One S3 client per session (it keeps its connections alive between requests). Validation uses
 * fewer attempts so a wrong endpoint fails in seconds, not after the SDK's backoff.
 */
export function createS3Client(connection: S3Connection, purpose: "validate" | "session"): S3Client {
  return new S3Client({
    region: connection.region,
    credentials: {
      accessKeyId: connection.accessKeyId,
      secretAccessKey: connection.secretAccessKey,
      ...(connection.sessionToken ? { sessionToken: connection.sessionToken } : {}),
    },
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    forcePathStyle: connection.forcePathStyle ?? false,
    maxAttempts: purpose === "validate" ? 2 : 5,
    requestHandler: { connectionTimeout: 10_000, requestTimeout: purpose === "validate" ? 30_000 : 300_000 },
    // Newer SDKs send CRC32 checksums on every upload by default; many S3-compatible stores reject
    // or mis-store them, so a custom endpoint gets checksums only where the API requires them.
    ...(connection.endpoint
      ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" }
      : {}),
  });
}

/** Where requests go, as a user would recognise it (never a credential). */
export function endpointOf(connection: S3Connection): string {
  return connection.endpoint ?? `https://s3.${connection.region}.amazonaws.com`;
}

const AUTH_CODES = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "InvalidClientTokenId",
  "UnrecognizedClientException",
  "InvalidSecurity",
]);
const DENIED_CODES = new Set(["AccessDenied", "AllAccessDisabled", "AccountProblem", "Forbidden"]);
const REGION_CODES = new Set([
  "PermanentRedirect",
  "AuthorizationHeaderMalformed",
  "IllegalLocationConstraintException",
]);
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ECONNABORTED",
]);

interface SdkFailure {
  name?: string;
  code?: string;
  status?: number;
  region?: string;
}

/** The parts of an SDK error that matter, read defensively (network errors carry no S3 code). */
function failureOf(error: unknown): SdkFailure {
  if (!(error instanceof Error)) return {};
  const fields = error as Error & {
    code?: unknown;
    Code?: unknown;
    errors?: unknown;
    $metadata?: { httpStatusCode?: number };
    $response?: { headers?: Record<string, string> };
  };
  const nested = Array.isArray(fields.errors)
    ? (fields.errors[0] as { code?: unknown } | undefined)
    : undefined;
  const code = [fields.code, nested?.code].find((c): c is string => typeof c === "string");
  const region = fields.$response?.headers?.["x-amz-bucket-region"];
  return {
    name: typeof fields.Code === "string" ? fields.Code : error.name,
    ...(code ? { code } : {}),
    ...(fields.$metadata?.httpStatusCode ? { status: fields.$metadata.httpStatusCode } : {}),
    ...(region ? { region } : {}),
  };
}

/**
 * The access key id as a message may show it: ids are not secrets (consoles and logs show them),
 * but a secret pasted into the wrong field must not come back in an error.
 */
function keyId(connection: S3Connection): string {
  return /^[A-Za-z0-9-]{1,32}$/.test(connection.accessKeyId) ? `'${connection.accessKeyId}'` : "(hidden)";
}

export interface S3Target {
  connection: S3Connection;
  bucket: string;
  /** What was being done, for the message: "listing s3://bucket/folder/". */
  action: string;
}

/**
 * Turns an S3 SDK failure into a HeraldError naming the setting at fault, never a secret:
 * rejected credentials → `auth_failed`, missing bucket → `not_found`, denied → `forbidden`, wrong
 * region → `validation`, unreachable endpoint or a 5xx → `unavailable`, SlowDown → `rate_limited`.
 * Anything else is returned as it is: an internal fault, logged in full (SDK errors hold no secret).
 */
export function s3Failure(error: unknown, target: S3Target): unknown {
  if (error instanceof HeraldError) return error;
  const { name = "", code, status, region } = failureOf(error);
  const { connection, bucket, action } = target;
  const endpoint = endpointOf(connection);
  if (AUTH_CODES.has(name)) {
    return new HeraldError(
      "auth_failed",
      "s3_credentials_rejected",
      `S3 rejected the credentials of access key id ${keyId(connection)} (${name}) when ${action}: check accessKeyId, secretAccessKey${connection.sessionToken ? " and sessionToken" : ""}`,
      [{ field: "connection.accessKeyId", message: name }],
    );
  }
  if (name === "NoSuchBucket" || (status === 404 && (name === "NotFound" || name === "NoSuchBucket"))) {
    return new HeraldError(
      "not_found",
      "bucket_not_found",
      `Bucket '${bucket}' does not exist at ${endpoint}`,
      [{ field: "details.bucket", message: "does not exist" }],
    );
  }
  if (REGION_CODES.has(name) || status === 301) {
    return new HeraldError(
      "validation",
      "s3_wrong_region",
      `Bucket '${bucket}' is not in region '${connection.region}'${region ? `: it is in '${region}'` : ""}; set region accordingly`,
      [{ field: "connection.region", message: region ? `the bucket is in ${region}` : "wrong region" }],
    );
  }
  if (DENIED_CODES.has(name) || status === 403) {
    return new HeraldError(
      "forbidden",
      "s3_access_denied",
      `Access key id ${keyId(connection)} was denied ${action} (${name || "403"}): grant s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucketMultipartUploads and s3:AbortMultipartUpload on bucket '${bucket}'`,
    );
  }
  if (name === "SlowDown" || status === 429 || status === 503) {
    return new HeraldError(
      "rate_limited",
      "s3_slow_down",
      `S3 at ${endpoint} asked to slow down while ${action}`,
    );
  }
  if ((code && NETWORK_CODES.has(code)) || name === "TimeoutError") {
    return new HeraldError(
      "unavailable",
      "s3_unreachable",
      `Cannot reach the S3 endpoint ${endpoint} while ${action} (${code ?? name})`,
      [{ field: "connection.endpoint", message: code ?? name }],
    );
  }
  if (status !== undefined && status >= 500) {
    return new HeraldError(
      "unavailable",
      "s3_server_error",
      `S3 at ${endpoint} failed while ${action} (${status} ${name})`,
    );
  }
  return error;
}
