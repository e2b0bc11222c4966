import { Readable } from "node:stream";
import * as openpgp from "openpgp";
import { HeraldError, validationError } from "../errors/index.ts";

/**
 * OpenPGP encryption of exported files (REFERENCE: "every file destination has an optional
 * encryption key: a PGP public key"), with OpenPGP.js. Files are encrypted to the key as they
 * stream, after their own compression, with OpenPGP's compression off (gzip has done it), as the
 * binary packets GnuPG reads (`gpg --decrypt audience.csv.gz.gpg | gunzip`).
 */

/** What is shown of an encryption key: never needed to be secret, but the armor is long. */
export interface EncryptionKeySummary {
  fingerprint: string;
  algorithm: string;
  userIds: string[];
  /** When the key stops encrypting; null when it never expires. */
  expiresAt: Date | null;
}

/** The armored public keys users paste; larger ones are refused before parsing. */
const MAX_ARMORED_BYTES = 64 * 1024;

const refuse = (field: string, message: string) =>
  validationError(`${field}: ${message}`, [{ field, message }]);

function describeAlgorithm(key: openpgp.Key): string {
  const info = key.getAlgorithmInfo();
  return [info.algorithm, info.bits ? `${info.bits} bits` : info.curve].filter(Boolean).join(" ");
}

/**
 * Reads an ASCII-armored OpenPGP public key that can encrypt now: refused, naming `field`, when it
 * is not one, is a private key (its text is never repeated), has no valid encryption key (expired,
 * revoked, signing only). Example: `await readEncryptionKey(armored, "encryptionKey")`.
 */
export async function readEncryptionKey(
  armored: string,
  field = "encryptionKey",
): Promise<{ key: openpgp.PublicKey; summary: EncryptionKeySummary }> {
  if (Buffer.byteLength(armored) > MAX_ARMORED_BYTES)
    throw refuse(field, `an armored public key of at most ${MAX_ARMORED_BYTES} bytes`);
  if (armored.includes("PRIVATE KEY BLOCK"))
    throw refuse(
      field,
      "this is a private key: give the recipient's public key (`gpg --armor --export <id>`)",
    );
  let key: openpgp.Key;
  try {
    key = await openpgp.readKey({ armoredKey: armored });
  } catch (error) {
    throw refuse(
      field,
      `not an OpenPGP public key in ASCII armor (-----BEGIN PGP PUBLIC KEY BLOCK-----): ${(error as Error).message}`,
    );
  }
  if (key.isPrivate())
    throw refuse(
      field,
      "this is a private key: give the recipient's public key (`gpg --armor --export <id>`)",
    );
  const fingerprint = key.getFingerprint().toUpperCase();
  try {
    await key.getEncryptionKey();
  } catch (error) {
    throw refuse(field, `the key ${fingerprint} cannot encrypt: ${(error as Error).message}`);
  }
  const expiry = await key.getExpirationTime();
  return {
    key: key as openpgp.PublicKey,
    summary: {
      fingerprint,
      algorithm: describeAlgorithm(key),
      userIds: key.getUserIDs(),
      expiresAt: expiry instanceof Date ? expiry : null,
    },
  };
}

/**
 * The bytes of `source` encrypted to `key` as they come, as one OpenPGP message. A key that no
 * longer encrypts (expired since it was saved) fails as a validation error, which is not retried.
 */
export async function* encryptedFor(
  source: AsyncIterable<Uint8Array>,
  key: openpgp.PublicKey,
): AsyncGenerator<Buffer> {
  let encrypted: ReadableStream<Uint8Array>;
  try {
    const message = await openpgp.createMessage({ binary: ReadableStream.from(source) });
    encrypted = (await openpgp.encrypt({
      message,
      encryptionKeys: key,
      format: "binary",
      config: { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed },
    })) as unknown as ReadableStream<Uint8Array>;
  } catch (error) {
    throw new HeraldError(
      "validation",
      "encryption_key_unusable",
      `encryptionKey: the account's key ${key.getFingerprint().toUpperCase()} cannot encrypt: ${(error as Error).message}; give the account a new key`,
      [{ field: "encryptionKey", message: "cannot encrypt" }],
    );
  }
  yield* Readable.fromWeb(encrypted as never) as AsyncIterable<Buffer>;
}
