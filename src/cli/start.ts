import type { FastifyInstance } from "fastify";
import { anyUsableToken } from "../access/index.ts";
import { buildServer, type Herald, openHerald } from "../api/index.ts";
import { isLoopback } from "../config/index.ts";
import { configFrom, type GlobalOptions, newCommand } from "./context.ts";

export { isLoopback } from "../config/index.ts";

/** What start says about who can reach the API: no login beyond loopback, or no token to log in with. */
export async function accessWarning(herald: Pick<Herald, "config" | "store">): Promise<string | undefined> {
  const { auth, host } = herald.config;
  if (auth === "none" && !isLoopback(host)) {
    return "HERALD_AUTH is none: every caller reaching this address acts as the local administrator; set HERALD_AUTH=token, keep it behind a proxy that authenticates, or on 127.0.0.1";
  }
  if (auth === "token" && !(await anyUsableToken(herald.store))) {
    return "HERALD_AUTH is token and no user holds a usable token yet: every call but health and docs is refused. Create the first administrator and their token with `herald users create admin --role Administrator && herald tokens create admin` (docs/access.md)";
  }
  return undefined;
}

/** Serves the API until SIGINT/SIGTERM, then closes the server and the store cleanly. */
export async function serve(herald: Herald): Promise<FastifyInstance> {
  const app = await buildServer(herald);
  const address = await app.listen({ host: herald.config.host, port: herald.config.port });
  // Background work starts once the API is up: exports due (or missed while down), daily evaluation.
  await herald.activation?.start();
  herald.evaluations.start();
  herald.streaming.start();
  herald.logger.info(
    { address, engine: herald.store.engine, dataDir: herald.config.dataDir },
    `Herald listening on ${address} (API docs at ${address}/docs)`,
  );
  const warning = await accessWarning(herald);
  if (warning) herald.logger.warn({ host: herald.config.host, auth: herald.config.auth }, warning);
  const stop = async (signal: string) => {
    herald.logger.info({ signal }, "shutting down");
    await app.close();
    await herald.close();
    process.exit(0);
  };
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
  return app;
}

export const startCommand = newCommand("start", "Start the Herald API server")
  .option("--host <host>", "address to listen on (HERALD_HOST, default 127.0.0.1)")
  .option("--port <port>", "port to listen on (HERALD_PORT, default 8080)")
  .action(async (options: GlobalOptions & { host?: string; port?: string }) => {
    const config = configFrom(options, {
      ...(options.host ? { host: options.host } : {}),
      ...(options.port ? { port: options.port } : {}),
    });
    await serve(await openHerald(config));
  });
