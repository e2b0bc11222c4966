import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { localKeyProvider, seal, unseal } from "./index.ts";

describe("envelope encryption", () => {
  const provider = localKeyProvider(randomBytes(32));

  it("round-trips a secret and never stores it in clear", async () => {
    const sealed = await seal(provider, '{"password":"hunter2"}', "account:1");
    expect(sealed).not.toContain("hunter2");
    expect(await unseal(provider, sealed, "account:1")).toBe('{"password":"hunter2"}');
  });

  it("refuses a sealed value moved to another record, or opened with another key", async () => {
    const sealed = await seal(provider, "secret", "account:1");
    await expect(unseal(provider, sealed, "account:2")).rejects.toThrow(/does not belong to this record/);
    await expect(unseal(localKeyProvider(randomBytes(32)), sealed, "account:1")).rejects.toThrow(
      /cannot be opened/,
    );
    await expect(unseal(localKeyProvider(randomBytes(32), "other"), sealed, "account:1")).rejects.toThrow(
      /does not hold/,
    );
  });
});
