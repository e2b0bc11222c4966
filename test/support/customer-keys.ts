import type { KeyClientOverrides } from "../../src/crypto/index.ts";
import { type KeyVaultStandIn, startKeyVault } from "../servers/key-vault.ts";
import { type KmsStandIn, startKms } from "../servers/kms.ts";

/**
 * The real SDK clients pointed at the test stand-ins: static AWS credentials, the vault's one
 * token as a static Azure credential, the challenge's resource (vault.azure.net) accepted for a
 * loopback vault, and no retries so a refused or failing key answers at once.
 */
export function clientsFor(vault?: KeyVaultStandIn): KeyClientOverrides {
  return {
    aws: { credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret" }, maxAttempts: 1 },
    ...(vault
      ? {
          azure: {
            credential: {
              getToken: async () => ({ token: vault.token, expiresOnTimestamp: Date.now() + 3_600_000 }),
            },
            client: {
              disableChallengeResourceVerification: true,
              allowInsecureConnection: true,
              retryOptions: { maxRetries: 0 },
            },
          },
        }
      : {}),
  };
}

export interface KeyServices {
  kms: KmsStandIn;
  vault: KeyVaultStandIn;
  clients: KeyClientOverrides;
  close(): Promise<void>;
}

export async function startKeyServices(): Promise<KeyServices> {
  const [kms, vault] = await Promise.all([startKms(), startKeyVault()]);
  return {
    kms,
    vault,
    clients: clientsFor(vault),
    close: async () => {
      await Promise.all([kms.close(), vault.close()]);
    },
  };
}
