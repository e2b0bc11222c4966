import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { z } from "zod";
import { withAuthentication } from "./authentication.ts";
import type { ApiDeps } from "./deps.ts";
import { ERROR_SCHEMA_ID, errorBodySchema, sendError } from "./errors.ts";
import { BEARER_SCHEME } from "./route.ts";
import { alertRoutes } from "./routes/alerts.ts";
import { auditRoutes } from "./routes/audit.ts";
import { consentRoutes } from "./routes/consent.ts";
import { dataflowRoutes } from "./routes/dataflows.ts";
import { deadLetterRoutes } from "./routes/deadletters.ts";
import { destinationRoutes } from "./routes/destinations.ts";
import { governanceRoutes } from "./routes/governance.ts";
import { healthRoutes } from "./routes/health.ts";
import { keyRoutes } from "./routes/keys.ts";
import { meRoutes } from "./routes/me.ts";
import { profileRoutes } from "./routes/profiles.ts";
import { roleRoutes } from "./routes/roles.ts";
import { sandboxRoutes } from "./routes/sandboxes.ts";
import { schemaRoutes } from "./routes/schema.ts";
import { segmentRoutes } from "./routes/segments.ts";
import { streamingRoutes } from "./routes/streaming.ts";
import { tokenRoutes } from "./routes/tokens.ts";
import { userRoutes } from "./routes/users.ts";

/** Route groups, one file per resource. A new resource registers here in one line. */
const routeGroups = [
  healthRoutes,
  sandboxRoutes,
  schemaRoutes,
  profileRoutes,
  segmentRoutes,
  destinationRoutes,
  dataflowRoutes,
  governanceRoutes,
  consentRoutes,
  streamingRoutes,
  deadLetterRoutes,
  alertRoutes,
  auditRoutes,
  userRoutes,
  roleRoutes,
  tokenRoutes,
  meRoutes,
  keyRoutes,
];

export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.config.maxBodyBytes,
  });
  // Requests are validated by each route's zod schema (src/api/route.ts); the JSON Schemas given to
  // Fastify exist for the OpenAPI document only, and responses are plain JSON.
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // JSON only by default: anything else is refused with 415 instead of being parsed as text.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler((error: Error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: "route_not_found", message: `No route ${request.method} ${request.url}` } }),
  );

  // Shared schemas keep their own names in `components.schemas` (not def-0, def-1, ...).
  app.addSchema({
    $id: ERROR_SCHEMA_ID,
    ...z.toJSONSchema(errorBodySchema, { target: "openapi-3.0" }),
  });
  await app.register(swagger, {
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "Herald API",
        version: "0.1.0",
        description:
          "Real-time customer data platform for audience activation. Send `x-sandbox-name` to choose a sandbox (default `prod`).",
      },
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: "http",
            scheme: "bearer",
            description: "An API token, `hrld_...`, needed when HERALD_AUTH=token (docs/access.md)",
          },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  const routeDeps = withAuthentication(deps);
  for (const group of routeGroups) group(app, routeDeps);
  await app.ready();
  return app;
}
