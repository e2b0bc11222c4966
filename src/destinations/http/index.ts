import { HeraldError } from "../../errors/index.ts";
import type { DestinationDefinition, StreamConnector } from "../types.ts";
import { createAuthorizer } from "./authorization.ts";
import {
  DEFAULT_HTTP_BATCH_SIZE,
  type HttpConnection,
  type HttpDetails,
  httpConnectionSchema,
  httpDetailsSchema,
  httpRedactedFields,
  httpSecretFields,
} from "./connection.ts";
import { httpLimits, httpSessionLimits, httpTarget, postBatches, sendRequest } from "./post-batches.ts";

export { parseRetryAfter } from "./http-status.ts";

export const httpConnector: StreamConnector<HttpConnection, HttpDetails> = {
  kind: "stream",
  limits: httpLimits,
  /**
   * Fetches an OAuth2 token when one is configured, then sends an empty batch, `{"records": []}`,
   * with the configured method, headers and credentials: the one request that proves the URL
   * resolves and answers and that the credentials are accepted, without delivering anything.
   * Refused: unreachable, 5xx, 401, 403, 404, 405 and redirects. Accepted: 2xx, and the content
   * errors (400, 422, ...) of an endpoint that does not like an empty batch but took the credentials.
   */
  async validate(connection, details, signal) {
    const authorizer = createAuthorizer(connection);
    const outcome = await sendRequest(httpTarget(connection, details), authorizer, '{"records":[]}', signal);
    if (!outcome.ok && "error" in outcome) throw outcome.error;
  },
  async open(connection, details) {
    const authorizer = createAuthorizer(connection);
    const target = httpTarget(connection, details);
    const batchSize = details.batchSize ?? DEFAULT_HTTP_BATCH_SIZE;
    return {
      limits: httpSessionLimits(batchSize),
      sendBatch: (records, signal) => postBatches(target, authorizer, batchSize, records, signal),
      close: async () => {},
    };
  },
};

/** Any HTTP API that accepts a JSON batch of records. */
export const httpDestination: DestinationDefinition<HttpConnection, HttpDetails> = {
  id: "http-api",
  name: "HTTP API",
  description:
    'Send audience changes to any HTTP endpoint as JSON batches {"records": [...]}, with basic, bearer or OAuth2 authentication',
  category: "streaming",
  exportType: "segment",
  connectionSchema: httpConnectionSchema,
  secretFields: httpSecretFields,
  redactedFields: httpRedactedFields,
  detailsSchema: httpDetailsSchema,
  connector: httpConnector,
};

/**
 * Posts one JSON document (a run alert, not a batch of records) to the account's endpoint, with its
 * method, headers and credentials; a refusal throws a HeraldError whose message never holds a secret.
 */
export async function postJsonDocument(connection: HttpConnection, body: string, signal?: AbortSignal) {
  const outcome = await sendRequest(
    httpTarget(connection, httpDetailsSchema.parse({})),
    createAuthorizer(connection),
    body,
    signal,
  );
  if (outcome.ok) return;
  if ("error" in outcome) throw outcome.error;
  throw new HeraldError("validation", "http_refused", outcome.reject);
}
