import { HeraldError } from "../../errors/index.ts";

interface AwsErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
}

const authErrors = new Set([
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "IncompleteSignatureException",
  "MissingAuthenticationTokenException",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "ExpiredTokenException",
]);

const throttlingErrors = new Set([
  "ProvisionedThroughputExceededException",
  "LimitExceededException",
  "ThrottlingException",
  "KMSThrottlingException",
]);

/** The stream's KMS key cannot be used: the owner of the key has to act, retrying does not help. */
const kmsErrors = new Set([
  "KMSAccessDeniedException",
  "KMSDisabledException",
  "KMSInvalidStateException",
  "KMSNotFoundException",
  "KMSOptInRequired",
]);

/**
 * Maps an error of the Kinesis SDK (a service exception or a network fault) to a HeraldError whose
 * message names the stream and region, never a key.
 */
export function kinesisError(error: unknown, where: { region: string; streamName: string }): HeraldError {
  if (error instanceof HeraldError) return error;
  const e = (error ?? {}) as AwsErrorShape;
  const name = e.name ?? "";
  const stream = `Kinesis stream '${where.streamName}' (${where.region})`;
  if (name === "ResourceNotFoundException")
    return new HeraldError(
      "not_found",
      "stream_not_found",
      `${stream} does not exist: check the stream name and region`,
    );
  if (authErrors.has(name))
    return new HeraldError(
      "auth_failed",
      "kinesis_auth_failed",
      `AWS rejected the access key for ${stream} (${name}): check accessKeyId and secretAccessKey`,
    );
  if (name === "AccessDeniedException")
    return new HeraldError(
      "forbidden",
      "kinesis_access_denied",
      `The access key may not use ${stream}: it needs kinesis:DescribeStreamSummary and kinesis:PutRecords`,
    );
  if (kmsErrors.has(name))
    return new HeraldError(
      "forbidden",
      "kinesis_kms_key_unusable",
      `${stream} is encrypted with a KMS key the access key cannot use (${name})`,
    );
  if (throttlingErrors.has(name))
    return new HeraldError("rate_limited", "kinesis_throttled", `${stream} throttled the request (${name})`);
  if (name === "InvalidArgumentException" || name === "ValidationException")
    return new HeraldError(
      "validation",
      "kinesis_invalid_request",
      `${stream} refused the request: ${e.message}`,
    );
  if (name === "AbortError")
    return new HeraldError("unavailable", "kinesis_aborted", `The request to ${stream} was cancelled`);
  if (e.$fault === "server" || (e.$metadata?.httpStatusCode ?? 0) >= 500)
    return new HeraldError(
      "unavailable",
      "kinesis_unavailable",
      `${stream} is unavailable (${name || "5xx"})`,
    );
  if (e.$metadata?.httpStatusCode === undefined) {
    // No HTTP answer at all: refused, unknown host, reset, timeout.
    const cause = e.code ?? (name === "TimeoutError" ? "timeout" : name || "network error");
    return new HeraldError(
      "unavailable",
      "kinesis_unreachable",
      `Cannot reach the Kinesis endpoint for ${stream} (${cause})`,
    );
  }
  return new HeraldError(
    "validation",
    "kinesis_rejected",
    `${stream} refused the request (${name || `HTTP ${e.$metadata.httpStatusCode}`})`,
  );
}
