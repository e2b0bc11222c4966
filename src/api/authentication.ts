import { actorOf, authenticateToken, TOKEN_PREFIX, unauthenticated } from "../access/index.ts";
import type { Config } from "../config/index.ts";
import type { Store } from "../store/index.ts";
import type { ActorDeps, ActorResolver } from "./route.ts";

/** The secret of an `Authorization: Bearer <token>` header; refused (401) without one, never echoing it. */
function bearerSecret(authorization: string | undefined): string {
  if (!authorization) {
    throw unauthenticated(
      `This request needs an API token: send the header 'Authorization: Bearer ${TOKEN_PREFIX}...' (docs/access.md)`,
    );
  }
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match?.[1]) throw unauthenticated("The Authorization header must be 'Bearer <API token>'");
  return match[1];
}

/** Callers as their API tokens say: the token's user, with what their roles grant in the sandbox. */
export function tokenResolver(store: Store): ActorResolver {
  return async (request, sandbox) =>
    actorOf(await authenticateToken(store, bearerSecret(request.headers.authorization)), sandbox);
}

/**
 * The API's dependencies with the caller resolution HERALD_AUTH asks for: tokens, or none (every
 * caller the local administrator). A resolver given by the caller (tests) is kept.
 */
export function withAuthentication<D extends { config: Pick<Config, "auth">; store: Store } & ActorDeps>(
  deps: D,
): D {
  if (deps.resolveActor || deps.config.auth === "none") return deps;
  return { ...deps, resolveActor: tokenResolver(deps.store) };
}
