import { z } from "zod";

/**
 * A URL as messages and logs may show it: origin and path only. The user name and password
 * (`user:pw@`) and the query (an API key, a SAS signature) may hold secrets, and these messages
 * reach run records, dead letters and logs.
 */
export function withoutSecrets(url: string | URL): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/** A URL as the API shows it: without its secrets, and `?…` where a query was hidden. */
export function withQueryHidden(url: string): string {
  return `${withoutSecrets(url)}${new URL(url).search ? "?…" : ""}`;
}

const hidden = "…";

/** Pieces of a readable segment: lower-case words, short words, numbers (`vip-customers`, `2026`). */
const readablePiece = /^(?:[a-z]+|[A-Za-z]{1,15}|[0-9]+)$/;

/**
 * Whether a URL path segment looks like a secret rather than a name: a run of 12 or more letters
 * and digits mixing both (`a1b2c3d4e5f6`, a hex key, a base62 token), or 20 or more characters
 * that are not words and numbers joined by `-`, `_`, `.`, `~` or spaces (a Slack webhook's
 * 24-character token, a Discord webhook's 68-character one, a UUID). `/v1/ingest`,
 * `/api/v2/events/batch`, `/audiences/vip-customers-newsletter`, a Discord webhook's numeric id and
 * Slack's `T0123ABCD` ids stay readable.
 */
export function looksLikeSecret(segment: string): boolean {
  if (/(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{12,}/.test(segment)) return true;
  return segment.length >= 20 && !segment.split(/[-_.~ ]+/).every((piece) => readablePiece.test(piece));
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The segments of a URL's path that `withoutPathSecrets` hides, as they appear in the URL. */
export function secretPathSegments(url: URL): string[] {
  return url.pathname.split("/").filter((segment) => looksLikeSecret(decoded(segment)));
}

/**
 * `withoutSecrets` for URLs that may carry their secret in the path, as webhooks do (Slack's
 * `/services/T…/B…/<token>`, Discord's `/api/webhooks/<id>/<token>`): each segment that
 * `looksLikeSecret` is shown as `…`. Applied to its own output, it gives the same text.
 */
export function withoutPathSecrets(url: string | URL): string {
  const parsed = new URL(url);
  const path = parsed.pathname
    .split("/")
    .map((segment) => {
      const text = decoded(segment);
      return text === hidden || looksLikeSecret(text) ? hidden : segment;
    })
    .join("/");
  return `${parsed.origin}${path}`;
}

/** `withQueryHidden` with the path's secret-like segments hidden too (`withoutPathSecrets`). */
export function withPathAndQueryHidden(url: string): string {
  return `${withoutPathSecrets(url)}${new URL(url).search ? `?${hidden}` : ""}`;
}

/**
 * An http(s) URL without a user name or password in it (`user:pw@host`): those are secrets and
 * belong in the connection's credential fields, which are sealed; a URL is shown.
 */
export const urlWithoutCredentials = (credentialsGoIn: string) =>
  z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).refine((value) => {
    const url = new URL(value);
    return !url.username && !url.password;
  }, `must not hold a user name or password (user:password@host): give them in ${credentialsGoIn}`);
