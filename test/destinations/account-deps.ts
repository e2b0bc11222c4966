import { randomBytes } from "node:crypto";
import { localKeyProvider } from "../../src/crypto/index.ts";
import {
  type AccountDeps,
  createCatalog,
  type DestinationDefinition,
  destinationMigrations,
  type OutboundRecord,
} from "../../src/destinations/index.ts";
import { retryAfterMsOf } from "../../src/destinations/stream-batching.ts";
import { createSandbox, DEFAULT_SANDBOX, migrate } from "../../src/store/index.ts";
import { freshStore } from "../support/stores.ts";

/** A DuckDB store with the accounts table, a local key and a catalog of the given destinations. */
export async function accountDeps(
  definitions: DestinationDefinition[],
): Promise<AccountDeps & { close(): Promise<void> }> {
  const store = await freshStore("duckdb");
  await migrate(store, store.engine);
  await migrate(store, store.engine, "destinations", destinationMigrations);
  await createSandbox(store, DEFAULT_SANDBOX);
  return {
    store,
    catalog: createCatalog(definitions),
    keys: localKeyProvider(randomBytes(32)),
    close: () => store.close(),
  };
}

/** `n` records over `keys` profiles, numbered by `seq` so order per profile can be checked. */
export function numberedRecords(n: number, keys: number, extra = ""): OutboundRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `profile-${i % keys}`,
    json: JSON.stringify({
      profileId: `profile-${i % keys}`,
      seq: i,
      segmentMembership: { herald: { "seg-1": { status: i % 3 ? "realized" : "exited" } } },
      extra,
    }),
  }));
}

/** A record's message, parsed: what a destination should have received for it. */
export function messageOf(record: OutboundRecord | undefined): unknown {
  return record ? JSON.parse(record.json) : undefined;
}

/** `record` with its message made larger than any destination takes (1 MiB more). */
export function oversized(record: OutboundRecord, fill: string): OutboundRecord {
  return { ...record, json: JSON.stringify({ ...JSON.parse(record.json), blob: fill.repeat(1024 * 1024) }) };
}

/** The HeraldError fields of a promise's rejection (fails the test when it resolves). */
export async function errorOf(
  promise: Promise<unknown>,
): Promise<{ kind?: string; code?: string; message: string; retryAfterMs?: number }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { kind?: string; code?: string; message?: string };
    const retryAfterMs = retryAfterMsOf(error);
    return {
      kind: e.kind,
      code: e.code,
      message: e.message ?? "",
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }
  throw new Error("expected a failure");
}
