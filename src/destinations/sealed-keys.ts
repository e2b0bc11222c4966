import { type KeyProvider, type KeyProviderKind, resealed, sealedKeyId } from "../crypto/index.ts";
import { isHeraldError } from "../errors/index.ts";
import type { Store } from "../store/index.ts";
import { sealContext } from "./accounts.ts";

/**
 * The values sealed in the store: accounts' credentials, the only values Herald seals (the profile
 * store itself is not encrypted by these keys, docs/keys.md).
 */
interface SealedRow {
  sandbox: string;
  id: string;
  connection_sealed: string;
}

const sealedRows = (store: Store) =>
  store.queryGlobal<SealedRow>("SELECT sandbox, id, connection_sealed FROM accounts ORDER BY sandbox, id");

export interface KeyStatus {
  provider: KeyProviderKind;
  /** The key new values are sealed with. */
  keyId: string;
  /** How many values each key sealed; `current` is the configured key. */
  sealedValues: { keyId: string; values: number; current: boolean }[];
}

/** Which key seals, and how many values each key sealed: ids and counts only, never key material. */
export async function keyStatus(deps: { store: Store; keys: KeyProvider }): Promise<KeyStatus> {
  const counts = new Map<string, number>();
  for (const row of await sealedRows(deps.store)) {
    const kid = sealedKeyId(row.connection_sealed);
    counts.set(kid, (counts.get(kid) ?? 0) + 1);
  }
  return {
    provider: deps.keys.kind,
    keyId: deps.keys.keyId,
    sealedValues: [...counts].map(([keyId, values]) => ({
      keyId,
      values,
      current: keyId === deps.keys.keyId,
    })),
  };
}

export interface RotationReport {
  /** Values sealed anew with the configured key. */
  resealed: number;
  /** Values the configured key sealed already. */
  current: number;
  /** Values that could not be opened (their key is not held or refused), left as they were. */
  failed: { sandbox: string; accountId: string; error: string }[];
}

/**
 * Seals every value with the configured key, opening each with the key that sealed it. An update
 * only lands on the value it read, so credentials changed meanwhile are not overwritten; `updated_at`
 * stays, as the credentials themselves did not change.
 */
export async function rotateSealedValues(deps: { store: Store; keys: KeyProvider }): Promise<RotationReport> {
  const report: RotationReport = { resealed: 0, current: 0, failed: [] };
  for (const row of await sealedRows(deps.store)) {
    try {
      const value = await resealed(deps.keys, row.connection_sealed, sealContext(row.sandbox, row.id));
      if (value === undefined) {
        report.current++;
        continue;
      }
      await deps.store.query(
        row.sandbox,
        "UPDATE accounts SET connection_sealed = $1 WHERE sandbox = $sandbox AND id = $2 AND connection_sealed = $3",
        [value, row.id, row.connection_sealed],
      );
      report.resealed++;
    } catch (error) {
      if (!isHeraldError(error)) throw error;
      report.failed.push({ sandbox: row.sandbox, accountId: row.id, error: error.message });
    }
  }
  return report;
}
