import { z } from "zod";
import { urlWithoutCredentials, withPathAndQueryHidden } from "../shown-url.ts";

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `h1:v1,h2:v2` (as typed at a prompt or in a form) → `{ h1: "v1", h2: "v2" }`. */
function headersFromText(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const out: Record<string, string> = {};
  for (const pair of value.split(",")) {
    if (!pair.trim()) continue;
    const colon = pair.indexOf(":");
    out[colon < 0 ? pair.trim() : pair.slice(0, colon).trim()] =
      colon < 0 ? "" : pair.slice(colon + 1).trim();
  }
  return out;
}

/** Header names and values as HTTP allows them; also accepts the `h1:v1,h2:v2` text form. */
export const headersSchema = z.preprocess(
  headersFromText,
  z.record(
    z.string().regex(headerName, "a header name: letters, digits and !#$%&'*+.^_`|~-"),
    z.string().refine((v) => !/[\r\n\0]/.test(v), "a header value cannot hold line breaks"),
  ),
);

/**
 * Header names that carry credentials (case-insensitive): `Authorization`, `Cookie`, API keys and
 * any name ending in `-token`, `-key`, `-secret`, `-signature` or `-password`.
 */
const credentialHeaderName =
  /^(?:authorization|proxy-authorization|cookie|x-api-key|api-key|apikey|x-apikey|.*-(?:token|key|secret|signature|password))$/i;

/**
 * `headersSchema` for headers stored and shown in clear: a credential header is refused, naming the
 * header (never its value) and `sealedIn`, the field to give it in instead.
 */
const plainHeadersSchema = (sealedIn: string) =>
  headersSchema.superRefine((headers, ctx) => {
    for (const name of Object.keys(headers))
      if (credentialHeaderName.test(name))
        ctx.addIssue({
          code: "custom",
          message: `'${name}' carries a credential: give it in ${sealedIn}, which is sealed`,
        });
  });

export const authTypes = ["none", "basic", "bearer", "oauth2"] as const;

export const DEFAULT_HTTP_BATCH_SIZE = 100;
export const DEFAULT_HTTP_TIMEOUT_SECONDS = 10;

/**
 * Where and how to send. Authentication fields are flat, next to `authType`, rather than a nested
 * union: secrets are sealed per top-level field (`secretFields`), and the CLI and the forms list
 * top-level fields. Only the fields of the chosen `authType` are required.
 */
export const httpConnectionSchema = z
  .object({
    url: urlWithoutCredentials("authType basic (username, password) or bearer (token)").describe(
      "Endpoint URL; a query string (e.g. an API key) is sealed and never shown",
    ),
    method: z
      .enum(["POST", "PUT", "PATCH"])
      .optional()
      .describe("HTTP method of each batch request (POST when empty)"),
    headers: plainHeadersSchema("secretHeaders")
      .optional()
      .describe(
        "Extra headers sent with every request, shown in clear: credentials (Authorization, X-Api-Key, ...) go in secretHeaders",
      ),
    secretHeaders: headersSchema
      .optional()
      .describe("Headers holding secrets (API keys): sealed at rest like passwords"),
    authType: z
      .enum(authTypes)
      .optional()
      .describe("none (the default), basic, bearer or oauth2 (client credentials)"),
    username: z.string().min(1).optional().describe("basic: user name"),
    password: z.string().min(1).optional().describe("basic: password"),
    token: z.string().min(1).optional().describe("bearer: the token"),
    tokenUrl: urlWithoutCredentials("clientId and clientSecret")
      .optional()
      .describe("oauth2: the token endpoint"),
    clientId: z.string().min(1).optional().describe("oauth2: client id"),
    clientSecret: z.string().min(1).optional().describe("oauth2: client secret"),
    scope: z.string().min(1).optional().describe("oauth2: scope to request, space-separated"),
    clientAuthentication: z
      .enum(["basic", "body"])
      .optional()
      .describe(
        "oauth2: client credentials as HTTP Basic (RFC 6749's default, used when empty) or in the form body",
      ),
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(120)
      .optional()
      .describe(`Seconds to wait for each answer (${DEFAULT_HTTP_TIMEOUT_SECONDS} when empty)`),
  })
  .superRefine((value, ctx) => {
    const required: Record<(typeof authTypes)[number], (keyof typeof value)[]> = {
      none: [],
      basic: ["username", "password"],
      bearer: ["token"],
      oauth2: ["tokenUrl", "clientId", "clientSecret"],
    };
    const authType = value.authType ?? "none";
    for (const field of required[authType]) {
      if (value[field] === undefined)
        ctx.addIssue({ code: "custom", path: [field], message: `required when authType is ${authType}` });
    }
  });

export const httpDetailsSchema = z.object({
  batchSize: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .optional()
    .describe(`Records per request (1-10,000; ${DEFAULT_HTTP_BATCH_SIZE} when empty)`),
  path: z
    .string()
    .regex(/^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/, "URL path characters only")
    .optional()
    .describe("Appended to the URL's path for this dataflow, e.g. /audiences/vip"),
  headers: plainHeadersSchema("the account's secretHeaders")
    .optional()
    .describe(
      "Headers added for this dataflow, shown in clear: credentials go in the account's secretHeaders",
    ),
});

export type HttpConnection = z.infer<typeof httpConnectionSchema>;
export type HttpDetails = z.infer<typeof httpDetailsSchema>;

export const httpSecretFields = ["password", "token", "clientSecret", "secretHeaders"] as const;

/**
 * The URLs are shown without their query (which may hold an API key) and with secret-like path
 * segments (a webhook's token) as `…`; the full URLs are sealed.
 */
export const httpRedactedFields = { url: withPathAndQueryHidden, tokenUrl: withPathAndQueryHidden };

/** The URL a dataflow's batches go to: the connection's URL with the dataflow's path appended. */
export function targetUrl(connection: HttpConnection, details: HttpDetails): URL {
  const url = new URL(connection.url);
  if (details.path) url.pathname = `${url.pathname.replace(/\/$/, "")}/${details.path.replace(/^\//, "")}`;
  return url;
}
