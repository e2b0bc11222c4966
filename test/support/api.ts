import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { type ApiDeps, buildServer, migrateParts, wireParts } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import type { Store } from "../../src/store/index.ts";
import { anyFolder } from "./local-roots.ts";

/** The API over a given store, wired as `herald start` wires it, with a throwaway local key. */
export async function apiFor(
  store: Store,
  overrides: Partial<ApiDeps> & { maxBodyBytes?: number } = {},
): Promise<{ app: FastifyInstance; deps: ReturnType<typeof wireParts> }> {
  await migrateParts(store);
  const { maxBodyBytes = 1024 * 1024, ...rest } = overrides;
  const deps = {
    ...wireParts({
      config: loadConfig({ maxBodyBytes, localRoots: anyFolder }, {}),
      store,
      logger: pino({ level: "silent" }),
      keys: localKeyProvider(randomBytes(32)),
    }),
    ...rest,
  };
  return { app: await buildServer(deps), deps };
}
