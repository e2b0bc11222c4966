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
