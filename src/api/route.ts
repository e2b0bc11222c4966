import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { type Actor, localAdministrator, type Permission, requirePermission } from "../access/index.ts";
import { parseInput } from "../errors/index.ts";
import { DEFAULT_SANDBOX, requireSandbox } from "../store/index.ts";
import type { ApiDeps } from "./deps.ts";

export const SANDBOX_HEADER = "x-sandbox-name";

export interface RouteContext<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  sandbox: string;
  actor: Actor;
  deps: ApiDeps;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * One route: its permission, its schemas (which validate the request AND produce the OpenAPI
 * document) and its handler. Handlers receive parsed, typed input and the caller's sandbox.
 */
export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  /** `null` only for the public health and documentation routes. */
  permission: Permission | null;
  summary: string;
  tags: string[];
  body?: B;
  query?: Q;
  params?: P;
  response?: z.ZodType;
  status?: number;
  /** Routes outside any sandbox (health, sandbox administration) set this to false. */
  sandboxed?: boolean;
  /** Extra content types the body accepts (streamed routes); JSON is the default. */
  consumes?: string[];
  handler: (context: RouteContext<z.infer<B>, z.infer<Q>, z.infer<P>>) => Promise<unknown>;
}

const openapi = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { target: "openapi-3.0", unrepresentable: "any" });

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, part: string): z.infer<T> {
  if (!schema) return value as z.infer<T>;
  return parseInput(schema, value, part, (path) => (path.length ? path.join(".") : part));
}

export function registerRoute<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType>(
  app: FastifyInstance,
  deps: ApiDeps,
  spec: RouteSpec<B, Q, P>,
) {
  const sandboxed = spec.sandboxed ?? true;
  app.route({
    method: spec.method,
    url: spec.url,
    schema: {
      summary: spec.summary,
      tags: spec.tags,
      ...(spec.permission ? { description: `Requires permission: ${spec.permission}` } : {}),
      ...(spec.body ? { body: openapi(spec.body) } : {}),
      ...(spec.query ? { querystring: openapi(spec.query) } : {}),
      ...(spec.params ? { params: openapi(spec.params) } : {}),
      ...(sandboxed
        ? {
            headers: {
              type: "object",
              properties: { [SANDBOX_HEADER]: { type: "string", default: DEFAULT_SANDBOX } },
            },
          }
        : {}),
      ...(spec.response ? { response: { [spec.status ?? 200]: openapi(spec.response) } } : {}),
      ...(spec.consumes ? { consumes: spec.consumes } : {}),
    },
    handler: async (request, reply) => {
      const actor = localAdministrator;
      if (spec.permission) requirePermission(actor, spec.permission);
      const sandboxHeader = request.headers[SANDBOX_HEADER];
      const sandbox = typeof sandboxHeader === "string" && sandboxHeader ? sandboxHeader : DEFAULT_SANDBOX;
      if (sandboxed) await requireSandbox(deps.store, sandbox);
      const context = {
        body: parse(spec.body, request.body, "body"),
        query: parse(spec.query, request.query, "query"),
        params: parse(spec.params, request.params, "path"),
        sandbox,
        actor,
        deps,
        request,
        reply,
      };
      const result = await spec.handler(context);
      if (reply.sent) return reply;
      return reply.status(spec.status ?? 200).send(result);
    },
  });
}
