import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  awsKmsKeyProvider,
  azureKeyVaultKeyProvider,
  type KeyProvider,
  keyRing,
  localKeyProvider,
  seal,
  unseal,
  verifyKeyRoundTrip,
} from "../../src/crypto/index.ts";
import { type KeyServices, startKeyServices } from "../support/customer-keys.ts";

const SECRET = '{"password":"hunter2"}';

/** Each customer-managed key through its real SDK, against its service's test stand-in. */
describe("customer-managed key providers", () => {
  let services: KeyServices;
  beforeAll(async () => {
    services = await startKeyServices();
  });
  afterAll(() => services?.close());

  const providers: {
    name: string;
    make: () => {
      provider: KeyProvider;
      revoke: (state: "disabled" | "denied" | "deleted") => void;
      restore: () => void;
    };
    refusal: Record<"disabled" | "denied" | "deleted", RegExp>;
    calls: () => string[];
  }[] = [
    {
      name: "AWS KMS",
      make: () => {
        const arn = services.kms.createKey();
        return {
          provider: awsKmsKeyProvider({
            keyArn: arn,
            endpoint: services.kms.endpoint,
            client: services.clients.aws,
          }),
          revoke: (state) => services.kms.setState(arn, state),
          restore: () => services.kms.setState(arn, "enabled"),
        };
      },
      refusal: {
        disabled: /DisabledException/,
        denied: /AccessDeniedException/,
        deleted: /NotFoundException/,
      },
      calls: () => services.kms.calls,
    },
    {
      name: "Azure Key Vault",
      make: () => {
        const kid = services.vault.createKey(`herald-${randomBytes(4).toString("hex")}`);
        return {
          provider: azureKeyVaultKeyProvider({ keyUrl: kid, ...services.clients.azure }),
          revoke: (state) => services.vault.setState(kid, state),
          restore: () => services.vault.setState(kid, "enabled"),
        };
      },
      refusal: {
        disabled: /Forbidden: Operation unwrapKey is not allowed on a disabled key/,
        denied: /Forbidden: Caller is not authorized/,
        deleted: /KeyNotFound/,
      },
      calls: () => services.vault.calls,
    },
  ];

  for (const { name, make, refusal, calls } of providers) {
    describe(name, () => {
      it("seals and unseals through the service, which holds the only copy of the key", async () => {
        const { provider } = make();
        const sealed = await seal(provider, SECRET, "account:prod:1");
        expect(JSON.parse(sealed).kid).toBe(provider.keyId);
        expect(sealed).not.toContain("hunter2");
        expect(await unseal(provider, sealed, "account:prod:1")).toBe(SECRET);
        await verifyKeyRoundTrip(provider);
        // A second provider for the same key (another process) opens it too.
        const again = make();
        await expect(unseal(again.provider, sealed, "account:prod:1")).rejects.toMatchObject({
          code: "key_unavailable",
        });
      });

      for (const state of ["disabled", "denied", "deleted"] as const) {
        it(`refuses with key_unavailable naming the key when it is ${state}, and opens again once restored`, async () => {
          const { provider, revoke, restore } = make();
          const sealed = await seal(provider, SECRET, "account:prod:1");
          revoke(state);
          const before = calls().length;
          const error = await unseal(provider, sealed, "account:prod:1").catch((e: unknown) => e);
          expect(error).toMatchObject({ kind: "unavailable", code: "key_unavailable" });
          const message = (error as Error).message;
          expect(message).toContain(`The customer-managed key ${provider.keyId} (HERALD_KEY_ID) refused:`);
          expect(message).toMatch(refusal[state]);
          expect(message).toMatch(/restore access to it$/);
          // Every unseal asks the service: nothing was answered from a cache.
          expect(calls().length).toBeGreaterThan(before);
          restore();
          expect(await unseal(provider, sealed, "account:prod:1")).toBe(SECRET);
        });
      }
    });
  }

  it("an unreachable service is a transient key_service_unavailable, not a refusal", async () => {
    const kms = awsKmsKeyProvider({
      keyArn: services.kms.createKey(),
      endpoint: "http://127.0.0.1:1",
      client: services.clients.aws,
    });
    await expect(kms.wrapKey(randomBytes(32))).rejects.toMatchObject({
      kind: "unavailable",
      code: "key_service_unavailable",
      message: expect.stringMatching(
        /^AWS KMS could not be reached for the customer-managed key arn:aws:kms:/,
      ),
    });
    services.vault.failWith = 500;
    try {
      const vault = azureKeyVaultKeyProvider({
        keyUrl: services.vault.createKey("down"),
        ...services.clients.azure,
      });
      await expect(vault.wrapKey(randomBytes(32))).rejects.toMatchObject({ code: "key_service_unavailable" });
    } finally {
      services.vault.failWith = undefined;
    }
  });

  it("a key ring seals with the customer's key and still opens what the local key sealed", async () => {
    const local = localKeyProvider(randomBytes(32));
    const legacy = await seal(local, SECRET, "account:prod:1");
    const kms = awsKmsKeyProvider({
      keyArn: services.kms.createKey(),
      endpoint: services.kms.endpoint,
      client: services.clients.aws,
    });
    const ring = keyRing(kms, [local]);
    expect(await unseal(ring, legacy, "account:prod:1")).toBe(SECRET);
    const fresh = await seal(ring, SECRET, "account:prod:1");
    expect(JSON.parse(fresh).kid).toBe(kms.keyId);
    expect(await unseal(ring, fresh, "account:prod:1")).toBe(SECRET);
    // Without the local key, its values name the key that sealed them.
    await expect(unseal(keyRing(kms), legacy, "account:prod:1")).rejects.toMatchObject({
      code: "key_unavailable",
      message: expect.stringMatching(/Sealed with key 'local', which this Herald does not hold/),
    });
  });
});
