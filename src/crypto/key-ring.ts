import { randomBytes, timingSafeEqual } from "node:crypto";
import { HeraldError } from "../errors/index.ts";
import type { KeyProvider } from "./key-provider.ts";

/**
 * The configured key seals; older keys still held (the local key after a switch to a customer-
 * managed key) only open what they sealed, until `herald keys rotate` re-seals it. Each value's
 * recorded key id picks the provider; an id none holds goes to the configured one, which refuses it.
 */
export function keyRing(sealing: KeyProvider, readers: KeyProvider[] = []): KeyProvider {
  const byId = new Map(readers.map((reader) => [reader.keyId, reader]));
  byId.set(sealing.keyId, sealing);
  return {
    kind: sealing.kind,
    keyId: sealing.keyId,
    wrapKey: (dataKey) => sealing.wrapKey(dataKey),
    unwrapKey: (wrapped, wrappedWith) => (byId.get(wrappedWith) ?? sealing).unwrapKey(wrapped, wrappedWith),
  };
}

/**
 * Wraps and unwraps a random key: a key that is revoked, disabled, unreachable or answers with
 * another key's bytes fails here, at start, rather than on the first export.
 */
export async function verifyKeyRoundTrip(provider: KeyProvider): Promise<void> {
  const probe = randomBytes(32);
  const unwrapped = await provider.unwrapKey(await provider.wrapKey(probe), provider.keyId);
  if (unwrapped.length !== probe.length || !timingSafeEqual(unwrapped, probe)) {
    throw new HeraldError(
      "unavailable",
      "key_mismatch",
      `The key ${provider.keyId} (HERALD_KEY_ID) did not give back the data key it wrapped`,
    );
  }
}
