import path from "node:path";
import { z } from "zod";
import { KEY_VAULT_KEY_URL, KMS_KEY_ARN } from "../crypto/key-ids.ts";
import { KEY_PROVIDER_KINDS } from "../crypto/key-provider.ts";
import { parseInput, validationError } from "../errors/index.ts";

/**
 * Herald's settings, read once at start from flags and the environment (flags win) and validated.
 * No other module reads process.env: parts receive what they need from this object.
 */
export const configSchema = z.object({
  dataDir: z
    .string()
    .min(1)
    .describe("Folder for the embedded store and local files (HERALD_DATA_DIR, --data-dir)"),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must start with postgres:// or postgresql://")
    .optional()
    .describe(
      "PostgreSQL connection URL; when set, Herald uses PostgreSQL instead of DuckDB (HERALD_DATABASE_URL)",
    ),
  host: z.string().min(1).describe("Address the HTTP API listens on (HERALD_HOST, --host)"),
  auth: z
    .enum(["none", "token"])
    .optional()
    .describe(
      "How API callers are authenticated (HERALD_AUTH): 'token' needs 'Authorization: Bearer hrld_...' on every route but health and docs; 'none' makes every caller the local administrator",
    ),
  port: z.coerce
    .number({ error: "must be a number" })
    .int()
    .min(0)
    .max(65535)
    .describe("HTTP port (HERALD_PORT, --port)"),
  logLevel: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .describe("Log level (HERALD_LOG_LEVEL)"),
  memoryLimit: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, "must look like 512MB or 2GiB")
    .describe("Memory the embedded DuckDB engine may use (HERALD_MEMORY_LIMIT)"),
  threads: z.coerce
    .number({ error: "must be a number" })
    .int()
    .min(1)
    .max(256)
    .optional()
    .describe("Threads for the embedded engine (HERALD_THREADS)"),
  maxBodyBytes: z.coerce
    .number({ error: "must be a number" })
    .int()
    .min(1024)
    .describe("Largest accepted request body in bytes (HERALD_MAX_BODY_BYTES)"),
  evaluationTime: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "must be HH:MM (24-hour, UTC)")
    .describe("Daily batch evaluation of every segment, HH:MM in UTC (HERALD_EVALUATION_TIME)"),
  maxConcurrentExports: z.coerce
    .number({ error: "must be a number" })
    .int()
    .min(1)
    .max(64)
    .describe("File exports running at once; the others wait as queued (HERALD_MAX_CONCURRENT_EXPORTS)"),
  streamingMaxAttempts: z.coerce
    .number({ error: "must be a number" })
    .int()
    .min(1)
    .max(100)
    .describe(
      "Attempts to deliver a streamed message before it becomes a dead letter (HERALD_STREAMING_MAX_ATTEMPTS)",
    ),
  streamingRecordsPerSecond: z.coerce
    .number({ error: "must be a number" })
    .int()
    .min(1)
    .describe(
      "Streamed messages sent per second to each destination account at most (HERALD_STREAMING_RECORDS_PER_SECOND)",
    ),
  localRoots: z
    .string()
    .transform((value) => value.split(path.delimiter).filter(Boolean))
    .pipe(
      z
        .array(z.string().refine((folder) => path.isAbsolute(folder), "each folder must be an absolute path"))
        .min(1, "must name at least one folder"),
    )
    .optional()
    .describe(
      `Folders local-folder accounts may write in, separated by '${path.delimiter}'; an account's root must be one of them or inside one (HERALD_LOCAL_ROOTS)`,
    ),
  secretKey: z
    .string()
    .regex(/^[0-9a-f]{64}$/i, "must be 64 hexadecimal characters (a 256-bit key)")
    .optional()
    .describe(
      "Local key that seals credentials at rest (HERALD_SECRET_KEY); generated under the data dir when absent",
    ),
  keyProvider: z
    .enum(KEY_PROVIDER_KINDS)
    .describe(
      "Key that seals credentials: local (HERALD_SECRET_KEY or the data dir's key), or a customer-managed key in aws-kms or azure-key-vault (HERALD_KEY_PROVIDER; docs/keys.md)",
    ),
  keyId: z
    .string()
    .optional()
    .describe(
      "The customer-managed key: an AWS KMS key ARN, or a Key Vault key URL https://<vault>.vault.azure.net/keys/<name>/<version> (HERALD_KEY_ID)",
    ),
  kmsEndpoint: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .optional()
    .describe("AWS KMS endpoint instead of the ARN region's own, e.g. a VPC endpoint (HERALD_KMS_ENDPOINT)"),
});

/**
 * The validated settings; `localRoots` is filled in from the data dir when not set, `auth` from
 * the host when not set.
 */
export type Config = Omit<z.infer<typeof configSchema>, "localRoots" | "auth"> & {
  localRoots: string[];
  auth: "none" | "token";
};

/** Whether an address is loopback only, where no one but this machine's users reach it. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** Without HERALD_AUTH: no login on loopback (the demo, a laptop), tokens on any other address. */
const defaultAuth = (host: string) => (isLoopback(host) ? "none" : "token");

const envNames: Record<keyof Config, string> = {
  dataDir: "HERALD_DATA_DIR",
  databaseUrl: "HERALD_DATABASE_URL",
  host: "HERALD_HOST",
  auth: "HERALD_AUTH",
  port: "HERALD_PORT",
  logLevel: "HERALD_LOG_LEVEL",
  memoryLimit: "HERALD_MEMORY_LIMIT",
  threads: "HERALD_THREADS",
  maxBodyBytes: "HERALD_MAX_BODY_BYTES",
  evaluationTime: "HERALD_EVALUATION_TIME",
  maxConcurrentExports: "HERALD_MAX_CONCURRENT_EXPORTS",
  streamingMaxAttempts: "HERALD_STREAMING_MAX_ATTEMPTS",
  streamingRecordsPerSecond: "HERALD_STREAMING_RECORDS_PER_SECOND",
  localRoots: "HERALD_LOCAL_ROOTS",
  secretKey: "HERALD_SECRET_KEY",
  keyProvider: "HERALD_KEY_PROVIDER",
  keyId: "HERALD_KEY_ID",
  kmsEndpoint: "HERALD_KMS_ENDPOINT",
};

const defaults = {
  dataDir: "./herald-data",
  host: "127.0.0.1",
  port: 8080,
  logLevel: "info",
  // DuckDB's budget; Herald's process peaks up to ~550 MiB above it (Node, the engine's allocations
  // outside its buffer pool). At 448MB every path measured on 100 M profiles (ingestion, evaluation,
  // exports in each format, deduplicated) peaked under 1 GiB; at 1GB they reached 1.3-1.7 GiB
  // (docs/benchmarks.md).
  memoryLimit: "448MB",
  evaluationTime: "02:00",
  maxBodyBytes: 16 * 1024 * 1024,
  // Two exports keep two cores busy; more share them and add their buffers together.
  // One: each export's plan is sized for the whole engine budget (two 100 M exports at once at
  // 448MB: DuckDB out of memory, docs/benchmarks.md), and one export keeps both cores busy.
  maxConcurrentExports: 1,
  // The streaming dispatcher's default (defaultRetryPolicy): with its backoff, an hour of outage.
  streamingMaxAttempts: 35,
  streamingRecordsPerSecond: 50_000,
  keyProvider: "local",
} satisfies Partial<Record<keyof Config, unknown>>;

/** Build the configuration from flags (already parsed) over the environment over defaults. */
export function loadConfig(
  flags: Partial<Record<keyof Config, string | number | undefined>> = {},
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const raw: Record<string, unknown> = { ...defaults };
  const fromFlags = new Set<string>();
  for (const key of Object.keys(envNames) as (keyof Config)[]) {
    const fromEnv = env[envNames[key]];
    if (fromEnv !== undefined && fromEnv !== "") raw[key] = fromEnv;
    const fromFlag = flags[key];
    if (fromFlag !== undefined && fromFlag !== "") {
      raw[key] = fromFlag;
      fromFlags.add(key);
    }
  }
  // Settings are named by their environment variables, as users set them; and by their flag
  // (`port` → `--port`) when a flag gave the value.
  const config = parseInput(
    configSchema,
    raw,
    "configuration",
    (path) => {
      const key = String(path[0]);
      const name = envNames[key as keyof Config] ?? key;
      return fromFlags.has(key) ? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} (${name})` : name;
    },
    "invalid_config",
  );
  requireKeyIdFitsProvider(config);
  const dataDir = path.resolve(config.dataDir);
  // The demo's export folder: outside it, local-folder accounts need the setting.
  const localRoots = (config.localRoots ?? [path.join(dataDir, "exports")]).map((folder) =>
    path.resolve(folder),
  );
  return { ...config, dataDir, localRoots, auth: config.auth ?? defaultAuth(config.host) };
}

/** HERALD_KEY_ID is required by, and must have the shape of, the customer-managed provider chosen. */
function requireKeyIdFitsProvider(config: Pick<Config, "keyProvider" | "keyId">): void {
  const shapes = {
    "aws-kms": [KMS_KEY_ARN, "an AWS KMS key ARN such as arn:aws:kms:<region>:<account>:key/<key id>"],
    "azure-key-vault": [
      KEY_VAULT_KEY_URL,
      "a Key Vault key URL https://<vault>.vault.azure.net/keys/<name>/<version>",
    ],
  } as const;
  if (config.keyProvider === "local") return;
  const [shape, expected] = shapes[config.keyProvider];
  const problem = !config.keyId
    ? `required with HERALD_KEY_PROVIDER=${config.keyProvider}: ${expected}`
    : shape.test(config.keyId)
      ? undefined
      : `must be ${expected}`;
  if (problem) {
    const message = `HERALD_KEY_ID: ${problem}`;
    throw validationError(
      `Invalid configuration: ${message}`,
      [{ field: "HERALD_KEY_ID", message }],
      "invalid_config",
    );
  }
}

/** A setting's value as it may be shown: the key never, a database URL without its password. */
function shownValue(name: keyof Config, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (name === "secretKey") return "(set, not shown)";
  if (name === "databaseUrl") {
    const url = URL.parse(String(value));
    if (!url) return "(set, not shown: not a URL)";
    if (url.password) url.password = "***";
    return url.toString();
  }
  if (Array.isArray(value)) return value.join(path.delimiter);
  return String(value);
}

/**
 * The settings and their environment variables, for the README and `herald config`; given a loaded
 * configuration, each one's value as it may be shown (secrets never are).
 */
export function describeSettings(config?: Config): {
  name: keyof Config;
  env: string;
  description: string;
  default?: string;
  value?: string;
}[] {
  return (Object.keys(envNames) as (keyof Config)[]).map((name) => {
    const fallback =
      name === "auth"
        ? "none on a loopback HERALD_HOST, else token"
        : (defaults as Partial<Record<keyof Config, unknown>>)[name];
    const value = config ? shownValue(name, config[name]) : undefined;
    return {
      name,
      env: envNames[name],
      description: configSchema.shape[name].description ?? "",
      ...(fallback !== undefined ? { default: String(fallback) } : {}),
      ...(value !== undefined ? { value } : {}),
    };
  });
}
