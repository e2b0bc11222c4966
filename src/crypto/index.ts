export { type Sealed, seal, unseal } from "./envelope.ts";
export {
  aesGcmDecrypt,
  aesGcmEncrypt,
  type KeyProvider,
  loadOrCreateLocalKey,
  localKeyProvider,
} from "./key-provider.ts";
export { type EncryptionKeySummary, encryptedFor, readEncryptionKey } from "./pgp.ts";
