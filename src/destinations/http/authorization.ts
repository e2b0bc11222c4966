import { assertNever, HeraldError } from "../../errors/index.ts";
import { withDeadline } from "../deadline.ts";
import { withoutPathSecrets } from "../shown-url.ts";
import { DEFAULT_HTTP_TIMEOUT_SECONDS, type HttpConnection } from "./connection.ts";
import { describeRequestFailure, exchange, type HttpAnswer } from "./http-status.ts";

interface CachedToken {
  value: string;
  /** Epoch ms after which the token is not used any more (a minute before it expires). */
  renewAt: number;
}

/** Tokens without `expires_in` are kept until the endpoint refuses them. */
const noExpiry = Number.POSITIVE_INFINITY;

/**
 * The `Authorization` header for a connection. OAuth 2.0 client-credentials tokens (RFC 6749 §4.4)
 * are fetched on first use, kept until a minute before they expire, and fetched again when the
 * endpoint answers 401 (`invalidate`, then `header` again).
 */
export interface Authorizer {
  header(signal?: AbortSignal): Promise<string | undefined>;
  /** Forgets a cached token; returns false when there is nothing to renew (basic, bearer, none). */
  invalidate(): boolean;
}

export function createAuthorizer(connection: HttpConnection): Authorizer {
  const authType = connection.authType ?? "none";
  switch (authType) {
    case "none":
      return { header: async () => undefined, invalidate: () => false };
    case "basic": {
      const header = `Basic ${Buffer.from(`${connection.username}:${connection.password}`).toString("base64")}`;
      return { header: async () => header, invalidate: () => false };
    }
    case "bearer":
      return { header: async () => `Bearer ${connection.token}`, invalidate: () => false };
    case "oauth2": {
      let cached: CachedToken | undefined;
      let pending: Promise<CachedToken> | undefined;
      return {
        async header(signal) {
          if (!cached || Date.now() >= cached.renewAt) {
            // Concurrent batches share one token request.
            pending ??= fetchToken(connection, signal).finally(() => {
              pending = undefined;
            });
            cached = await pending;
          }
          return `Bearer ${cached.value}`;
        },
        invalidate() {
          cached = undefined;
          return true;
        },
      };
    }
    default:
      return assertNever(authType, "authType");
  }
}

const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");

async function fetchToken(connection: HttpConnection, signal?: AbortSignal): Promise<CachedToken> {
  const tokenUrl = connection.tokenUrl ?? "";
  const shownTokenUrl = withoutPathSecrets(tokenUrl);
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  if (connection.scope) form.set("scope", connection.scope);
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    accept: "application/json",
  };
  if ((connection.clientAuthentication ?? "basic") === "basic") {
    // RFC 6749 §2.3.1: id and secret are form-encoded before joining them.
    const pair = `${formEncode(connection.clientId ?? "")}:${formEncode(connection.clientSecret ?? "")}`;
    headers.authorization = `Basic ${Buffer.from(pair).toString("base64")}`;
  } else {
    form.set("client_id", connection.clientId ?? "");
    form.set("client_secret", connection.clientSecret ?? "");
  }
  const timeoutMs = (connection.timeoutSeconds ?? DEFAULT_HTTP_TIMEOUT_SECONDS) * 1000;
  let response: HttpAnswer;
  try {
    response = await withDeadline(timeoutMs, signal, (deadline) =>
      exchange(tokenUrl, { method: "POST", headers, body: form.toString(), signal: deadline }),
    );
  } catch (error) {
    throw new HeraldError(
      "unavailable",
      "oauth_token_endpoint_unreachable",
      `Cannot reach the token endpoint ${shownTokenUrl} (${describeRequestFailure(error)})`,
    );
  }
  let body: { access_token?: unknown; expires_in?: unknown; error?: unknown } = {};
  try {
    body = JSON.parse(response.text) as typeof body;
  } catch {
    // Not JSON: judged by the status below.
  }
  if (response.status >= 500 || response.status === 429)
    throw new HeraldError(
      response.status === 429 ? "rate_limited" : "unavailable",
      "oauth_token_endpoint_unavailable",
      `The token endpoint ${shownTokenUrl} answered ${response.status}`,
    );
  if (!response.ok || typeof body.access_token !== "string" || !body.access_token) {
    const reason = typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    throw new HeraldError(
      "auth_failed",
      "oauth_token_refused",
      `The token endpoint ${shownTokenUrl} gave no token to client '${connection.clientId}' (${reason}): check clientId, clientSecret and scope`,
    );
  }
  const expiresIn = Number(body.expires_in);
  return {
    value: body.access_token,
    renewAt:
      Number.isFinite(expiresIn) && expiresIn > 0
        ? Date.now() + Math.max(expiresIn - 60, expiresIn / 2) * 1000
        : noExpiry,
  };
}
