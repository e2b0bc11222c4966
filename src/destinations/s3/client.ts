import { S3Client } from "@aws-sdk/client-s3";
import { HeraldError } from "../../errors/index.ts";
import { scrubSecrets } from "../../errors/scrub.ts";
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
  "ENETDOWN",
  "EHOSTDOWN",
  "EADDRNOTAVAIL",
  "ESOCKETTIMEDOUT",
]);
/** A TLS handshake or certificate the client refuses: retrying changes nothing. */
const TLS_CODE = /^(EPROTO|ERR_SSL_|ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT|UNABLE_TO_)/;
/** 4xx answers that S3 documents as worth retrying: a timed-out request, a conflicting operation. */
const TRANSIENT_CLIENT_CODES = new Set(["RequestTimeout", "OperationAborted"]);
/** 4xx answers about the key itself: the folder (or file name) makes it one S3 refuses. */
const KEY_CODES = new Set(["KeyTooLongError", "InvalidObjectName"]);

interface SdkFailure {
  name?: string;
  code?: string;
  status?: number;
  region?: string;
  /** The server's or the library's own words, secrets removed. */
  message?: string;
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
    ...(error.message ? { message: scrubSecrets(error.message) } : {}),
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
 * A lasting TLS failure, a 501 or another 4xx → `validation`, naming the setting to check; a
 * failure with no answer and no known cause → `internal`, with the bucket and key (the original
 * error as its `cause`, for the log).
 */
export function s3Failure(error: unknown, target: S3Target): unknown {
  if (error instanceof HeraldError) return error;
  const { name = "", code, status, region, message } = failureOf(error);
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
  if (code && TLS_CODE.test(code)) {
    return new HeraldError(
      "validation",
      "s3_tls_failed",
      `The TLS connection to the S3 endpoint ${endpoint} failed while ${action} (${code}): check connection.endpoint and its certificate`,
      [{ field: "connection.endpoint", message: code }],
    );
  }
  if (status === 501) {
    return new HeraldError(
      "validation",
      "s3_not_supported",
      `S3 at ${endpoint} does not support ${action} (501 ${name}${message ? `: ${message}` : ""}): check connection.endpoint`,
      [{ field: "connection.endpoint", message: `501 ${name}` }],
    );
  }
  if (
    (status !== undefined && status >= 500) ||
    status === 408 ||
    TRANSIENT_CLIENT_CODES.has(name) ||
    (status === undefined && code !== undefined && /^E[A-Z]+$/.test(code))
  ) {
    return new HeraldError(
      "unavailable",
      "s3_server_error",
      `S3 at ${endpoint} failed while ${action} (${status ?? code} ${name})`,
    );
  }
  if (status !== undefined && status >= 400) {
    const field = KEY_CODES.has(name) ? "details.folderPath" : "details.bucket";
    return new HeraldError(
      "validation",
      "s3_request_refused",
      `S3 at ${endpoint} refused ${action} (${status} ${name}${message ? `: ${message}` : ""}): check ${field}`,
      [{ field, message: `${status} ${name}` }],
    );
  }
  const unexpected = new HeraldError(
    "internal",
    "s3_unexpected_failure",
    `S3 at ${endpoint} failed unexpectedly while ${action}${message ? `: ${message}` : ""}`,
  );
  unexpected.cause = error;
  return unexpected;
}
