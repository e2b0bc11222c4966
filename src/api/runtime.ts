import fs from "node:fs";
import { type Logger, pino } from "pino";
import { accessMigrations } from "../access/index.ts";
import {
  type ActivationService,
  activationMigrations,
  activeDataflowsFor,
  createActivationService,
  dataflowsUsingAccount,
  listDataflows,
} from "../activation/index.ts";
import type { Config } from "../config/index.ts";
import { type KeyClientOverrides, type KeyProvider, openConfiguredKey } from "../crypto/index.ts";
import {
  createCatalog,
  type DestinationDefinition,
  destinationDefinitions,
  destinationMigrations,
  requireKeyOpensAccounts,
} from "../destinations/index.ts";
import { createLocalDestination } from "../destinations/local/index.ts";
import { governanceMigrations } from "../governance/index.ts";
import { profileMigrations } from "../profiles/index.ts";
import { installDefaultSchema } from "../schema/index.ts";
import {
  createEvaluationScheduler,
  type EvaluationScheduler,
  listenToRecordedChanges,
  segmentDirectory,
  segmentMigrations,
} from "../segments/index.ts";
import { DEFAULT_SANDBOX, type Migration, migrate, openStore, type Store } from "../store/index.ts";
import { createStreamingService, type StreamingService, streamingMigrations } from "../streaming/index.ts";
import type { ApiDeps } from "./deps.ts";

/** Each part's own tables, migrated at start after the store's shared ones. */
export const partMigrations: [part: string, migrations: Migration[]][] = [
  ["access", accessMigrations],
  ["profiles", profileMigrations],
  ["destinations", destinationMigrations],
  ["segments", segmentMigrations],
  ["governance", governanceMigrations],
  ["activation", activationMigrations],
  ["streaming", streamingMigrations],
];

export interface Herald extends ApiDeps {
  activation: ActivationService;
  /** Daily segment evaluation; started by `herald start`, not by one-shot commands. */
  evaluations: EvaluationScheduler;
  /** Real-time ingestion, dispatcher and sweep; `herald start` starts the background parts. */
  streaming: StreamingService;
  close: () => Promise<void>;
}

/** Secrets never reach the logs, whatever a log call is given. */
const redact = {
  paths: [
    "req.headers.authorization",
    "req.headers.cookie",
    "*.password",
    "*.privateKey",
    "*.passphrase",
    "*.secretAccessKey",
    "*.accountKey",
    "*.connectionString",
    "*.sasKey",
    "*.sasUrl",
    "*.sharedAccessKey",
    "*.sessionToken",
    "*.secretHeaders",
    "*.clientSecret",
    "*.token",
  ],
  censor: "[redacted]",
};

export function createLogger(config: Pick<Config, "logLevel">, destination?: NodeJS.WritableStream): Logger {
  return pino({ level: config.logLevel, redact, base: { service: "herald" } }, destination ?? process.stderr);
}

/** Applies every part's migrations, each in its own transaction. */
export async function migrateParts(store: Store): Promise<void> {
  for (const [part, migrations] of partMigrations) {
    await store.transaction((tx) => migrate(tx, store.engine, part, migrations));
  }
}

/**
 * The catalog as the server offers it: the local folder limited to the configured folders
 * (HERALD_LOCAL_ROOTS), never the registry's entry, which takes any root.
 */
export function serverDestinations(config: Pick<Config, "localRoots">): DestinationDefinition[] {
  const local = createLocalDestination({ allowedRoots: config.localRoots });
  return destinationDefinitions.map((definition) => (definition.id === local.id ? local : definition));
}

/** Connects the parts to each other: the one place that knows who calls whom. */
export function wireParts(base: Pick<ApiDeps, "config" | "store" | "logger" | "keys">) {
  const { config, store, logger, keys } = base;
  const catalog = createCatalog(serverDestinations(config));
  const segments = segmentDirectory(store);
  const activation = createActivationService(
    { store, catalog, keys, segments },
    { logger, maxConcurrentExports: config.maxConcurrentExports },
  );
  const evaluations = createEvaluationScheduler(store, {
    time: config.evaluationTime,
    keys,
    onEvaluated: (sandbox, segmentId) => activation.onSegmentEvaluated(sandbox, segmentId),
    onError: (error, context) => logger.error({ err: error, ...context }, "scheduled evaluation failed"),
  });
  const streaming = createStreamingService(
    { store, catalog, keys },
    {
      logger,
      retry: { maxAttempts: config.streamingMaxAttempts },
      recordsPerSecond: config.streamingRecordsPerSecond,
    },
  );
  // Every batch evaluation through this store (API, CLI, scheduler) queues its changes of streamed
  // segments in its own transaction.
  listenToRecordedChanges(store, streaming.batchChanges);
  return {
    ...base,
    catalog,
    segments,
    activation,
    evaluations,
    streaming,
    activeDataflows: activeDataflowsFor(catalog),
    accountUsers: (sandbox: string, accountId: string) => dataflowsUsingAccount(store, sandbox, accountId),
    segmentUsers: async (sandbox: string, segmentId: string) =>
      (await listDataflows(store, sandbox))
        .filter((d) => d.segments.some((s) => s.segmentId === segmentId))
        .map((d) => d.name),
  };
}

/**
 * Opens the store (migrations, default sandbox and schema), the configured key and the logger: what
 * every command needs. `keyClients` gives the key services' SDK clients credentials (tests only).
 */
export async function openHerald(
  config: Config,
  logger = createLogger(config),
  keyClients?: KeyClientOverrides,
): Promise<Herald> {
  if (!config.databaseUrl) fs.mkdirSync(config.dataDir, { recursive: true });
  const { store } = await openStore(config).catch((error: unknown) => {
    throw friendlyOpenError(error, config);
  });
  await migrateParts(store);
  await installDefaultSchema(store, DEFAULT_SANDBOX);
  let keys: KeyProvider;
  try {
    keys = await openConfiguredKey(config, keyClients);
    await requireKeyOpensAccounts({ store, keys });
  } catch (error) {
    await store.close();
    throw error;
  }
  const parts = wireParts({ config, store, logger, keys });
  const { evaluations, activation, streaming } = parts;
  return {
    ...parts,
    close: async () => {
      await streaming.stop();
      await evaluations.stop();
      await activation.stop();
      await store.close();
    },
  };
}

function friendlyOpenError(error: unknown, config: Config): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (/lock/i.test(message) && !config.databaseUrl) {
    return new Error(
      `The embedded store in ${config.dataDir} is in use by another Herald process (DuckDB allows one). Stop it, use another --data-dir, or set HERALD_DATABASE_URL to share a PostgreSQL store.`,
    );
  }
  if (config.databaseUrl) {
    // Never echo the URL: it may carry a password.
    return new Error(`Cannot open the PostgreSQL store (HERALD_DATABASE_URL): ${message}`);
  }
  return error instanceof Error ? error : new Error(message);
}
