export { type Sealed, seal, unseal } from "./envelope.ts";
export {
  aesGcmDecrypt,
  aesGcmEncrypt,
  type KeyProvider,
  loadOrCreateLocalKey,
  localKeyProvider,
} from "./key-provider.ts";
