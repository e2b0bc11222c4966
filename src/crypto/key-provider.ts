import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { HeraldError } from "../errors/index.ts";
import { requireOwnKey } from "./key-refusal.ts";

/**
 * Wraps and unwraps data keys. The local keyring is the default; customer-managed keys (AWS KMS,
 * Azure Key Vault) implement the same two calls, so revoking the customer's key makes every sealed
 * value unreadable at its next use.
 */
export interface KeyProvider {
  readonly kind: KeyProviderKind;
  readonly keyId: string;
  wrapKey(dataKey: Buffer): Promise<Buffer>;
  unwrapKey(wrapped: Buffer, keyId: string): Promise<Buffer>;
}

/** Where the key that wraps data keys lives (HERALD_KEY_PROVIDER). */
export const KEY_PROVIDER_KINDS = ["local", "aws-kms", "azure-key-vault"] as const;
export type KeyProviderKind = (typeof KEY_PROVIDER_KINDS)[number];

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function aesGcmEncrypt(key: Buffer, plaintext: Buffer, aad?: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  if (aad) cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function aesGcmDecrypt(key: Buffer, sealed: Buffer, aad?: Buffer): Buffer {
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  if (aad) decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
}

/** A 256-bit key held by Herald itself: from HERALD_SECRET_KEY, or generated once under the data dir. */
export function localKeyProvider(masterKey: Buffer, keyId = "local"): KeyProvider {
  if (masterKey.length !== 32) throw new Error("The local key must be 32 bytes (256 bits)");
  return {
    kind: "local",
    keyId,
    wrapKey: async (dataKey) => aesGcmEncrypt(masterKey, dataKey),
    unwrapKey: async (wrapped, wrappedWith) => {
      requireOwnKey(keyId, wrappedWith);
      try {
        return aesGcmDecrypt(masterKey, wrapped);
      } catch {
        throw new HeraldError(
          "unavailable",
          "key_mismatch",
          "Sealed data cannot be opened with the configured key (HERALD_SECRET_KEY changed?)",
        );
      }
    },
  };
}

const localKeyFile = (dataDir: string) => path.join(dataDir, "keys", "local.key");

/** The local key if there is one (HERALD_SECRET_KEY, or the data dir's key file); none is made. */
export function loadLocalKey(dataDir: string, configured?: string): Buffer | undefined {
  if (configured) return Buffer.from(configured, "hex");
  const file = localKeyFile(dataDir);
  if (fs.existsSync(file)) return Buffer.from(fs.readFileSync(file, "utf8").trim(), "hex");
  return undefined;
}

/** Reads the local key file, creating it (mode 0600) on first start. */
export function loadOrCreateLocalKey(dataDir: string, configured?: string): Buffer {
  const existing = loadLocalKey(dataDir, configured);
  if (existing) return existing;
  const file = localKeyFile(dataDir);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  fs.writeFileSync(file, key.toString("hex"), { mode: 0o600, flag: "wx" });
  return key;
}
