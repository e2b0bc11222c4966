import { secretPathSegments } from "../shown-url.ts";

/** The start of an endpoint's answer kept in a record's error (dead letters, run records, logs). */
const excerptChars = 300;

/** Shorter secrets cannot be told apart from ordinary text: the excerpt is dropped instead. */
const shortestFindable = 4;

const redacted = "[redacted]";

/** The forms a value may take in an echoed request: as sent, URL- or form-encoded, in a JSON string. */
function spellings(value: string): string[] {
  const uri = encodeURIComponent(value);
  return [value, uri, uri.replace(/%20/g, "+"), JSON.stringify(value).slice(1, -1)];
}

/**
 * The start of an answer's body with every secret the request carried (`secrets`: a token, secret
 * header values, basic credentials and their base64 form, the URL's query values, a token in its path) replaced by
 * `[redacted]`: an endpoint that echoes the request would otherwise put them in dead letters and
 * logs. Empty when a secret is too short to find reliably (under 4 characters).
 *
 * @example responseExcerpt('{"error":"bad","auth":"Bearer t0k3n"}', ["t0k3n"]) // '{"error":"bad","auth":"Bearer [redacted]"}'
 */
export function responseExcerpt(body: string, secrets: readonly string[]): string {
  const values = secrets.filter((s) => s.length > 0);
  if (values.some((s) => s.length < shortestFindable)) return "";
  const longestFirst = [...new Set(values.flatMap(spellings))].sort((a, b) => b.length - a.length);
  // Redacted before cutting, over enough text that a secret across the cut is whole.
  let text = body.trim().slice(0, excerptChars + (longestFirst[0]?.length ?? 0));
  for (const secret of longestFirst) text = text.replaceAll(secret, redacted);
  return text.slice(0, excerptChars);
}

/**
 * The secret values a request carries besides its `Authorization` header: the basic password or the
 * bearer token, the secret header values, the values of the URL's query (which may be an API key; 4 characters or more) and the
 * path segments shown as `…` (a webhook's token, `withoutPathSecrets`).
 */
export function requestSecrets(
  connection: { password?: string; token?: string; secretHeaders?: Record<string, string> },
  url: URL,
): string[] {
  const query = url.search
    .slice(1)
    .split("&")
    .map((pair) => pair.slice(pair.indexOf("=") + 1));
  return [
    connection.password,
    connection.token,
    ...Object.values(connection.secretHeaders ?? {}),
    // A query value that short is a setting, not a key (`v=2`, `region=eu`): it would drop the excerpt.
    ...[...url.searchParams.values(), ...query].filter((value) => value.length >= shortestFindable),
    ...secretPathSegments(url),
  ].filter((value): value is string => !!value);
}

/** An `Authorization` header's secrets: the whole value and its credentials (after `Bearer `, `Basic `). */
export function authorizationSecrets(header: string | undefined): string[] {
  if (!header) return [];
  const space = header.indexOf(" ");
  return space < 0 ? [header] : [header, header.slice(space + 1)];
}
