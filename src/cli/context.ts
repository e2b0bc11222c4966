import { Command } from "commander";
import { type Herald, openHerald } from "../api/index.ts";
import { type Config, loadConfig } from "../config/index.ts";
import { isHeraldError } from "../errors/index.ts";

/** Options every command accepts; flags win over HERALD_* environment variables. */
export function withGlobalOptions(command: Command): Command {
  return withStoreOptions(command).option("--sandbox <name>", "sandbox to act in", "prod");
}

/** The options of commands acting outside sandboxes (users, roles, tokens): the store's only. */
export function withStoreOptions(command: Command): Command {
  return command
    .option("--data-dir <dir>", "folder for the embedded store (HERALD_DATA_DIR, default ./herald-data)")
    .option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent (HERALD_LOG_LEVEL)");
}

export type StoreOptions = Pick<GlobalOptions, "dataDir" | "logLevel">;

export interface GlobalOptions {
  dataDir?: string;
  logLevel?: string;
  sandbox: string;
  json?: boolean;
}

export function configFrom(
  options: StoreOptions,
  extra: Partial<Record<keyof Config, string | number>> = {},
): Config {
  return loadConfig({ dataDir: options.dataDir, logLevel: options.logLevel, ...extra });
}

/** Prints an error the way a user can act on it: the message, then each issue on its own line. */
export function reportError(error: unknown): number {
  if (isHeraldError(error)) {
    process.stderr.write(`error: ${error.message}\n`);
    for (const issue of error.issues.slice(0, 50)) {
      // The message of a single issue often is the issue itself: not said twice.
      if (error.issues.length === 1 && error.message.endsWith(issue.message)) break;
      const where = [issue.row !== undefined ? `row ${issue.row}` : "", issue.field ?? ""]
        .filter(Boolean)
        .join(", ");
      // Issues often name their field already ("HERALD_PORT: must be a number").
      const named = where && !issue.message.startsWith(`${where}: `) ? `${where}: ` : "";
      process.stderr.write(`  - ${named}${issue.message}\n`);
    }
    return 1;
  }
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}

export function printJson(value: unknown) {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function newCommand(name: string, description: string): Command {
  return withGlobalOptions(new Command(name).description(description));
}

/** Opens Herald for one command and always closes it, whatever the command does. */
export async function withHerald<T>(options: StoreOptions, run: (herald: Herald) => Promise<T>): Promise<T> {
  const herald = await openHerald(configFrom(options));
  try {
    return await run(herald);
  } finally {
    await herald.close();
  }
}
