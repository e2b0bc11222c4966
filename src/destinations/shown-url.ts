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

/**
 * An http(s) URL without a user name or password in it (`user:pw@host`): those are secrets and
 * belong in the connection's credential fields, which are sealed; a URL is shown.
 */
export const urlWithoutCredentials = (credentialsGoIn: string) =>
  z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).refine((value) => {
    const url = new URL(value);
    return !url.username && !url.password;
  }, `must not hold a user name or password (user:password@host): give them in ${credentialsGoIn}`);
