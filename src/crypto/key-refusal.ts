import { HeraldError } from "../errors/index.ts";

/**
 * The two ways a customer-managed key fails, as every provider reports them. Messages name the key
 * and the setting and carry the service's reason only: never key material, which no service puts
 * in an error.
 */
export function keyRefused(keyId: string, reason: string): HeraldError {
  return new HeraldError(
    "unavailable",
    "key_unavailable",
    `The customer-managed key ${keyId} (HERALD_KEY_ID) refused: ${reason}; restore access to it`,
  );
}

/** The key service could not be reached or failed on its side: worth retrying later. */
export function keyServiceUnreachable(keyId: string, service: string, reason: string): HeraldError {
  return new HeraldError(
    "unavailable",
    "key_service_unavailable",
    `${service} could not be reached for the customer-managed key ${keyId} (HERALD_KEY_ID): ${reason}`,
  );
}

/** A value sealed with a key this Herald does not hold (e.g. after switching providers). */
export function keyNotHeld(wrappedWith: string): HeraldError {
  return new HeraldError(
    "unavailable",
    "key_unavailable",
    `Sealed with key '${wrappedWith}', which this Herald does not hold (set HERALD_KEY_PROVIDER and HERALD_KEY_ID, or HERALD_SECRET_KEY, to the key that sealed it)`,
  );
}

/** A provider's unwrapKey is only ever asked for its own key's values; anything else is not held. */
export function requireOwnKey(keyId: string, wrappedWith: string): void {
  if (wrappedWith !== keyId) throw keyNotHeld(wrappedWith);
}
