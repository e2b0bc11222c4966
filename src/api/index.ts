export type { ApiDeps } from "./deps.ts";
export { httpStatus } from "./errors.ts";
export { SANDBOX_HEADER } from "./route.ts";
export { createLogger, type Herald, migrateParts, openHerald, wireParts } from "./runtime.ts";
export { buildServer } from "./server.ts";
