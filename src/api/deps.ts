import type { Logger } from "pino";
import type { Config } from "../config/index.ts";
import type { Store } from "../store/index.ts";

/** What the API layer is given at start; routes never read the environment. */
export interface ApiDeps {
  config: Config;
  store: Store;
  logger: Logger;
}
