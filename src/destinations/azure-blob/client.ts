import {
  AnonymousCredential,
  BlobServiceClient,
  ContainerClient,
  RestError,
  type StoragePipelineOptions,
} from "@azure/storage-blob";
import { HeraldError, validationError } from "../../errors/index.ts";
import { scrubSecrets } from "../../errors/scrub.ts";
import { withoutSecrets } from "../shown-url.ts";
import type { AzureBlobConnection } from "./schemas.ts";

/**
 * The container client for a connection, and the URL to name in messages (never a SAS token or a
 * key). Validation retries less so an unreachable account fails in seconds, not after the SDK's
 * minute of backoff.
 */
export function containerClientFor(
  connection: AzureBlobConnection,
  container: string,
  purpose: "validate" | "session",
): ContainerClient {
  const options: StoragePipelineOptions = {
    retryOptions:
      purpose === "validate"
        ? { maxTries: 2, retryDelayInMs: 500, tryTimeoutInMs: 30_000 }
        : { maxTries: 5, retryDelayInMs: 1_000, maxRetryDelayInMs: 30_000 },
  };
  if (connection.connectionString !== undefined) {
    let service: BlobServiceClient;
    try {
      service = BlobServiceClient.fromConnectionString(connection.connectionString, options);
    } catch {
      // The SDK's message may quote the string, key included: say only what is wrong.
      throw validationError(
        "connection.connectionString is not a valid Azure Storage connection string: expected DefaultEndpointsProtocol=https;AccountName=...;AccountKey=... (or SharedAccessSignature=... with BlobEndpoint=...)",
        [{ field: "connection.connectionString", message: "not a valid connection string" }],
      );
    }
    return service.getContainerClient(container);
  }
  if (connection.sasUrl === undefined) {
    throw validationError("connection: give either connectionString or sasUrl", [
      { field: "connection.connectionString", message: "give either connectionString or sasUrl" },
    ]);
  }
  const url = new URL(connection.sasUrl);
  const named = containerInUrl(url);
  if (named === undefined) {
    return new BlobServiceClient(url.toString(), new AnonymousCredential(), options).getContainerClient(
      container,
    );
  }
  if (named !== container) {
    throw validationError(
      `The SAS URL is for container '${named}', but the details name container '${container}'`,
      [{ field: "details.container", message: `the SAS URL is for container '${named}'` }],
    );
  }
  return new ContainerClient(url.toString(), new AnonymousCredential(), options);
}

/**
 * The container a SAS URL points at, if any. Azure names the account in the host
 * (`acme.blob.core.windows.net/<container>`); emulators and IP endpoints name it in the path
 * (`127.0.0.1:10000/<account>/<container>`), as the SDK itself assumes.
 */
function containerInUrl(url: URL): string | undefined {
  const segments = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const accountInPath = /^\d+\.\d+\.\d+\.\d+$|^\[.*\]$|^localhost$/.test(url.hostname);
  return segments[accountInPath ? 1 : 0];
}

/** The connection field holding the account's credential, for messages that name the setting. */
export type AzureCredentialField = "connectionString" | "sasUrl";

export function credentialFieldOf(connection: AzureBlobConnection): AzureCredentialField {
  return connection.connectionString !== undefined ? "connectionString" : "sasUrl";
}

/** The storage account's blob endpoint a container client talks to, without token or container. */
export function accountUrlOf(client: ContainerClient): string {
  return withoutSecrets(client.url).replace(/\/[^/]*$/, "");
}

const AUTH_CODES = new Set([
  "AuthenticationFailed",
  "InvalidAuthenticationInfo",
  "NoAuthenticationInformation",
]);
const DENIED_CODES = new Set([
  "AuthorizationPermissionMismatch",
  "AuthorizationResourceTypeMismatch",
  "AuthorizationServiceMismatch",
  "AuthorizationFailure",
  "AuthorizationSourceIPMismatch",
  "AuthorizationProtocolMismatch",
  "InsufficientAccountPermissions",
  "AccountIsDisabled",
  "KeyBasedAuthenticationNotPermitted",
]);
const NETWORK_CODES = new Set([
  "REQUEST_SEND_ERROR",
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);
/** 4xx answers worth retrying: a timed-out request, a container being deleted or recreated. */
const TRANSIENT_CLIENT_CODES = new Set(["OperationTimedOut", "ContainerBeingDeleted"]);
/** 4xx answers about the blob's name: the folder (or file name) makes one Azure refuses. */
const NAME_CODES = new Set(["InvalidResourceName", "InvalidUri", "OutOfRangeInput"]);

export interface AzureTarget {
  container: string;
  /** Blob service or container URL, already without its token. */
  endpoint: string;
  /** The connection field with the credential: `connectionString` or `sasUrl`. */
  credential: AzureCredentialField;
  /** What was being done, for the message: "listing container 'audiences'". */
  action: string;
}

/**
 * Turns an Azure SDK failure into a HeraldError naming the setting at fault, never a secret:
 * rejected key or signature → `auth_failed`, missing container → `not_found`, a SAS or role
 * without the permission → `forbidden`, unreachable account → `unavailable`, ServerBusy →
 * `rate_limited`. Another 4xx → `validation`, naming the setting to check; anything else →
 * `internal`, naming the container and blob (the original error as its `cause`, for the log).
 */
export function azureFailure(error: unknown, target: AzureTarget): unknown {
  if (error instanceof HeraldError) return error;
  const { container, endpoint, credential, action } = target;
  const message = error instanceof Error ? scrubSecrets(error.message.split("\n")[0] ?? "") : "";
  if (!(error instanceof RestError)) {
    const unexpected = new HeraldError(
      "internal",
      "azure_unexpected_failure",
      `Azure Storage at ${endpoint} failed unexpectedly when ${action}${message ? `: ${message}` : ""}`,
    );
    unexpected.cause = error;
    return unexpected;
  }
  const code = error.code ?? "";
  const status = error.statusCode;
  // Azure answers a wrong key or signature with AuthenticationFailed; Azurite says
  // AuthorizationFailure with Azure's authentication message, which is what tells them apart.
  const authenticationFailed =
    AUTH_CODES.has(code) ||
    (code === "AuthorizationFailure" && error.message.startsWith("Server failed to authenticate"));
  if (authenticationFailed) {
    return new HeraldError(
      "auth_failed",
      "azure_credentials_rejected",
      `Azure Storage at ${endpoint} rejected the credentials (${code}) when ${action}: check connection.${credential} (${credential === "connectionString" ? "its account key" : "its SAS token's signature and expiry"})`,
      [{ field: `connection.${credential}`, message: code }],
    );
  }
  if (code === "ContainerNotFound" || (status === 404 && code === "ResourceNotFound")) {
    return new HeraldError(
      "not_found",
      "container_not_found",
      `Container '${container}' does not exist at ${endpoint}`,
      [{ field: "details.container", message: "does not exist" }],
    );
  }
  if (DENIED_CODES.has(code) || status === 403) {
    return new HeraldError(
      "forbidden",
      "azure_access_denied",
      `Azure Storage refused ${action} (${code || "403"}): connection.${credential} (its SAS token, or the role) needs write and list permissions (wl) on container '${container}'`,
      [{ field: `connection.${credential}`, message: code || "403" }],
    );
  }
  if (code === "ServerBusy" || status === 429 || status === 503) {
    return new HeraldError(
      "rate_limited",
      "azure_server_busy",
      `Azure Storage at ${endpoint} is busy (${action})`,
    );
  }
  if (NETWORK_CODES.has(code) || status === undefined) {
    return new HeraldError(
      "unavailable",
      "azure_unreachable",
      `Cannot reach Azure Storage at ${endpoint} when ${action} (${code || "no answer"})`,
      [{ field: `connection.${credential}`, message: code || "no answer" }],
    );
  }
  if (status === 501) {
    return new HeraldError(
      "validation",
      "azure_not_supported",
      `Azure Storage at ${endpoint} does not support ${action} (501 ${code}): check connection.${credential}`,
      [{ field: `connection.${credential}`, message: `501 ${code}` }],
    );
  }
  if (status >= 500 || status === 408 || TRANSIENT_CLIENT_CODES.has(code)) {
    return new HeraldError(
      "unavailable",
      "azure_server_error",
      `Azure Storage at ${endpoint} failed when ${action} (${status} ${code})`,
    );
  }
  if (status < 400) {
    const unexpected = new HeraldError(
      "internal",
      "azure_unexpected_failure",
      `Azure Storage at ${endpoint} answered unexpectedly when ${action} (${status} ${code})`,
    );
    unexpected.cause = error;
    return unexpected;
  }
  const field = NAME_CODES.has(code) ? "details.folderPath" : "details.container";
  return new HeraldError(
    "validation",
    "azure_request_refused",
    `Azure Storage at ${endpoint} refused ${action} (${status} ${code}${message ? `: ${message}` : ""}): check ${field}`,
    [{ field, message: `${status} ${code}` }],
  );
}
