export { type AwsKmsOptions, awsKmsKeyProvider } from "./aws-kms-key-provider.ts";
export { type AzureKeyVaultOptions, azureKeyVaultKeyProvider } from "./azure-key-vault-key-provider.ts";
export { type KeyClientOverrides, type KeySettings, openConfiguredKey } from "./configured-key.ts";
export { resealed, type Sealed, seal, sealedKeyId, unseal } from "./envelope.ts";
export { KEY_VAULT_KEY_URL, KMS_KEY_ARN } from "./key-ids.ts";
export {
  aesGcmDecrypt,
  aesGcmEncrypt,
  KEY_PROVIDER_KINDS,
  type KeyProvider,
  type KeyProviderKind,
  loadLocalKey,
  loadOrCreateLocalKey,
  localKeyProvider,
} from "./key-provider.ts";
export { keyRing, verifyKeyRoundTrip } from "./key-ring.ts";
export { type EncryptionKeySummary, encryptedFor, readEncryptionKey } from "./pgp.ts";
