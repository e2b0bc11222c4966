import { randomUUID } from "node:crypto";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { assertNever, type ErrorKind, type Issue, isHeraldError } from "../errors/index.ts";

/** The one place error kinds become HTTP statuses. */
export function httpStatus(kind: ErrorKind): number {
  switch (kind) {
    case "validation":
      return 400;
    case "unauthenticated":
      return 401;
    case "forbidden":
      return 403;
    case "not_found":
      return 404;
    case "conflict":
      return 409;
    case "payload_too_large":
      return 413;
    case "unsupported_media_type":
      return 415;
    case "auth_failed":
      return 422;
    case "rate_limited":
      return 429;
    case "unavailable":
      return 503;
    case "internal":
      return 500;
    default:
      return assertNever(kind, "error kind");
  }
}

/** Every error answer's shape: the one schema the OpenAPI document references for 4xx and 5xx. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().describe("stable, machine-readable: invalid_input, segment_not_found, forbidden, ..."),
    message: z.string().describe("what went wrong, naming the field, row or resource at fault"),
    issues: z
      .array(
        z.object({
          field: z.string().optional(),
          row: z.number().optional(),
          message: z.string(),
        }) satisfies z.ZodType<Issue>,
      )
      .optional()
      .describe("one entry per faulty field (and row, in a batch)"),
    reference: z.string().optional().describe("internal errors: the id under which the fault was logged"),
    details: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("structured facts about the refusal: `violations` for `policy_violation`"),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The id under which the error schema is registered: `components.schemas.Error` in the document. */
export const ERROR_SCHEMA_ID = "Error";

// Fastify's own client errors (bad JSON, body too large, wrong content type) keep their 4xx status.
const fastifyClientErrors: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "invalid_content_length",
};

export function sendError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (isHeraldError(error)) {
    const body: ErrorBody = {
      error: {
        code: error.code,
        message: error.message,
        ...(error.issues.length ? { issues: error.issues } : {}),
        ...(error.details ? { details: error.details } : {}),
      },
    };
    // RFC 6750: a 401 says which scheme would be accepted.
    if (error.kind === "unauthenticated") reply.header("WWW-Authenticate", 'Bearer realm="herald"');
    return reply.status(httpStatus(error.kind)).send(body);
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    const fastifyCode = (error as FastifyError).code ?? "";
    const code =
      fastifyClientErrors[fastifyCode] ?? (error instanceof SyntaxError ? "invalid_json" : "bad_request");
    const message = code === "invalid_json" ? `Malformed JSON body: ${error.message}` : error.message;
    return reply.status(status).send({ error: { code, message } } satisfies ErrorBody);
  }
  // Unknown faults: logged in full, shown only as a reference id (no stack, no secret).
  const reference = randomUUID();
  request.log.error({ err: error, reference }, "internal error");
  return reply.status(500).send({
    error: { code: "internal", message: `Internal error (reference ${reference})`, reference },
  } satisfies ErrorBody);
}
