import type { Logger } from "pino";
import type { ActivationService } from "../activation/index.ts";
import type { Config } from "../config/index.ts";
import type { KeyProvider } from "../crypto/index.ts";
import type { Catalog } from "../destinations/index.ts";
import type { ActiveDataflows } from "../governance/index.ts";
import type { Store } from "../store/index.ts";

/** What the API layer is given at start; routes never read the environment. */
export interface ApiDeps {
  config: Config;
  store: Store;
  logger: Logger;
  catalog: Catalog;
  keys: KeyProvider;
  /** Names of the dataflows using an account (activation answers; none until it is wired). */
  accountUsers?: (sandbox: string, accountId: string) => Promise<string[]>;
  /** Names of the dataflows exporting a segment (activation answers; none until it is wired). */
  segmentUsers?: (sandbox: string, segmentId: string) => Promise<string[]>;
  /** The sandbox's active dataflows, which policy, label and segment edits are checked against. */
  activeDataflows?: ActiveDataflows;
  /** File exports: scheduler and "export now". */
  activation?: ActivationService;
}
