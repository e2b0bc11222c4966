import { HeraldError } from "../../errors/index.ts";

interface MessagingErrorShape {
  name?: string;
  code?: string;
  message?: string;
  retryable?: boolean;
  errors?: unknown[];
}

const unreachableCodes = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "EADDRNOTAVAIL",
  "EPIPE",
]);

const busyCodes = new Set(["ServerBusyError", "QuotaExceededError"]);

const transientCodes = new Set([
  "ServiceUnavailableError",
  "InternalServerError",
  "OperationTimeoutError",
  "ConnectionForcedError",
  "DetachForcedError",
  "SenderBusyError",
  "SenderNotReadyError",
  "InsufficientCreditError",
  "ServiceCommunicationError",
  "ConnectionLostError",
  "AbortError",
]);

/**
 * Maps an error of the Event Hubs SDK (a MessagingError translated from an AMQP error, or a network
 * fault) to a HeraldError naming the namespace, event hub and key name, never the key.
 */
export function eventHubsError(
  error: unknown,
  where: { namespace: string; eventHubName: string; keyName: string },
): HeraldError {
  if (error instanceof HeraldError) return error;
  const e = (error ?? {}) as MessagingErrorShape;
  const hub = `event hub '${where.eventHubName}' in namespace '${where.namespace}'`;
  const detail = (e.message ?? "").split(" To know more visit")[0]?.trim();
  if (error instanceof AggregateError) {
    // Node tries every address of a host name; all of them failed.
    const inner = e.errors?.[0] as MessagingErrorShape | undefined;
    return new HeraldError(
      "unavailable",
      "event_hubs_unreachable",
      `Cannot reach namespace '${where.namespace}' (${inner?.code ?? "no address answered"})`,
    );
  }
  const code = e.code ?? e.name ?? "";
  if (code === "MessagingEntityNotFoundError")
    return new HeraldError(
      "not_found",
      "event_hub_not_found",
      `The ${hub} does not exist: check the event hub name`,
    );
  if (code === "UnauthorizedError") {
    if (/claim\(s\) are required/i.test(e.message ?? ""))
      return new HeraldError(
        "forbidden",
        "event_hubs_send_not_allowed",
        `The shared access policy '${where.keyName}' may not send to the ${hub}: it needs the Send claim`,
      );
    return new HeraldError(
      "auth_failed",
      "event_hubs_auth_failed",
      `The ${hub} rejected the shared access policy '${where.keyName}' (${detail}): check the key name and key`,
    );
  }
  if (code === "MessagingEntityDisabledError")
    return new HeraldError("forbidden", "event_hub_disabled", `The ${hub} is disabled`);
  if (code === "MessageTooLargeError")
    return new HeraldError("validation", "event_too_large", `The ${hub} refused a message as too large`);
  if (busyCodes.has(code))
    return new HeraldError(
      "rate_limited",
      "event_hubs_throttled",
      `The ${hub} is throttling requests (${detail})`,
    );
  if (unreachableCodes.has(code))
    return new HeraldError(
      "unavailable",
      "event_hubs_unreachable",
      `Cannot reach namespace '${where.namespace}' (${code})`,
    );
  if (transientCodes.has(code) || e.retryable)
    return new HeraldError(
      "unavailable",
      "event_hubs_unavailable",
      `The ${hub} is unavailable (${code}: ${detail})`,
    );
  return new HeraldError(
    "unavailable",
    "event_hubs_failed",
    `The ${hub} refused the request (${code || "error"}: ${detail})`,
  );
}
