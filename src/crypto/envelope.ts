import { randomBytes } from "node:crypto";
import { HeraldError } from "../errors/index.ts";
import { aesGcmDecrypt, aesGcmEncrypt, type KeyProvider } from "./key-provider.ts";

/**
 * Envelope encryption: each value gets its own AES-256-GCM data key, wrapped by the key provider.
 * The sealed text records which key wrapped it, so keys can rotate. `context` (e.g. the account
 * id) is bound as additional data: a sealed value copied onto another record does not open.
 */
export interface Sealed {
  v: 1;
  kid: string;
  wk: string;
  ct: string;
}

export async function seal(provider: KeyProvider, plaintext: string, context: string): Promise<string> {
  const dataKey = randomBytes(32);
  const ct = aesGcmEncrypt(dataKey, Buffer.from(plaintext, "utf8"), Buffer.from(context, "utf8"));
  const wk = await provider.wrapKey(dataKey);
  dataKey.fill(0);
  const sealed: Sealed = { v: 1, kid: provider.keyId, wk: wk.toString("base64"), ct: ct.toString("base64") };
  return JSON.stringify(sealed);
}

export async function unseal(provider: KeyProvider, sealedText: string, context: string): Promise<string> {
  const sealed = JSON.parse(sealedText) as Sealed;
  if (sealed.v !== 1)
    throw new HeraldError("internal", "unknown_seal_version", `Unknown sealed format version ${sealed.v}`);
  const dataKey = await provider.unwrapKey(Buffer.from(sealed.wk, "base64"), sealed.kid);
  try {
    return aesGcmDecrypt(dataKey, Buffer.from(sealed.ct, "base64"), Buffer.from(context, "utf8")).toString(
      "utf8",
    );
  } catch {
    throw new HeraldError(
      "unavailable",
      "seal_mismatch",
      "Sealed data does not belong to this record or was altered",
    );
  } finally {
    dataKey.fill(0);
  }
}

/** The id of the key that wrapped a sealed value's data key. */
export function sealedKeyId(sealedText: string): string {
  return (JSON.parse(sealedText) as Sealed).kid;
}

/**
 * The value sealed anew with the provider's key, or undefined when that key sealed it already:
 * rotation opens each value with the key that sealed it (which must still be held) and seals it
 * with the configured one.
 */
export async function resealed(
  provider: KeyProvider,
  sealedText: string,
  context: string,
): Promise<string | undefined> {
  if (sealedKeyId(sealedText) === provider.keyId) return undefined;
  return seal(provider, await unseal(provider, sealedText, context), context);
}
