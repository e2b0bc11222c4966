import { randomBytes, timingSafeEqual } from "node:crypto";
import { HeraldError } from "../errors/index.ts";
import type { KeyProvider } from "./key-provider.ts";

/**
 * The configured key seals; older keys still held (the local key after a switch to a customer-
 * managed key, or an earlier key of the same service) only open what they sealed, until `herald
 * keys rotate` re-seals it. Each value's recorded key id picks the provider; an id none holds goes
 * to the configured one, which refuses it.
 */
export function keyRing(
  sealing: KeyProvider,
  readers: KeyProvider[] = [],
  /** Opens another key of the same service (an earlier key version), or says it may not. */
  readerFor: (keyId: string) => KeyProvider | undefined = () => undefined,
): KeyProvider {
  const byId = new Map(readers.map((reader) => [reader.keyId, reader]));
  byId.set(sealing.keyId, sealing);
  const providerOf = (keyId: string): KeyProvider => {
    const known = byId.get(keyId);
    if (known) return known;
    const reader = readerFor(keyId);
    if (reader) byId.set(keyId, reader);
    return reader ?? sealing;
  };
  return {
    kind: sealing.kind,
    keyId: sealing.keyId,
    wrapKey: (dataKey) => sealing.wrapKey(dataKey),
    unwrapKey: (wrapped, wrappedWith) => providerOf(wrappedWith).unwrapKey(wrapped, wrappedWith),
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
