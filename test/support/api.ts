import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { type ApiDeps, buildServer } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import {
  createCatalog,
  destinationDefinitions,
  destinationMigrations,
} from "../../src/destinations/index.ts";
import { migrate, type Store } from "../../src/store/index.ts";

/** The API over a given store, as `herald start` builds it, with a throwaway local key. */
export async function apiFor(
  store: Store,
  overrides: Partial<ApiDeps> & { maxBodyBytes?: number } = {},
): Promise<{ app: FastifyInstance; deps: ApiDeps }> {
  await migrate(store, store.engine, "destinations", destinationMigrations);
  const { maxBodyBytes = 1024 * 1024, ...rest } = overrides;
  const deps: ApiDeps = {
    config: loadConfig({ maxBodyBytes }, {}),
    store,
    logger: pino({ level: "silent" }),
    catalog: createCatalog(destinationDefinitions),
    keys: localKeyProvider(randomBytes(32)),
    ...rest,
  };
  return { app: await buildServer(deps), deps };
}
