import * as openpgp from "openpgp";
import { describe, expect, it } from "vitest";
import { recipientKeys } from "../../test/support/pgp.ts";
import { encryptedFor, readEncryptionKey } from "./pgp.ts";

async function refusal(armored: string) {
  return readEncryptionKey(armored, "encryptionKey").then(
    () => undefined,
    (error: Error & { issues?: { field: string }[] }) => error,
  );
}

describe("readEncryptionKey", () => {
  it("reads a public key that encrypts, with what the API shows of it", async () => {
    const { publicKey } = recipientKeys();
    const { summary } = await readEncryptionKey(publicKey);
    const expected = (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase();
    expect(summary).toEqual({
      fingerprint: expected,
      algorithm: expect.stringMatching(/^eddsa/i),
      userIds: ["Pickup Agency <files@agency.example>"],
      expiresAt: null,
    });
  });

  it("refuses a private key without repeating it", async () => {
    const { privateKey } = recipientKeys();
    const error = await refusal(privateKey);
    expect(error?.message).toMatch(/^encryptionKey: this is a private key: give the recipient's public key/);
    expect(error?.message).not.toContain(privateKey.split("\n")[2]);
    expect(error?.issues?.[0]?.field).toBe("encryptionKey");
  });

  it("refuses text that is no key, a key that only signs and an expired key, naming the field", async () => {
    expect((await refusal("ssh-ed25519 AAAAC3Nza me@host"))?.message).toMatch(
      /^encryptionKey: not an OpenPGP public key in ASCII armor/,
    );
    const signOnly = recipientKeys({ signOnly: true });
    expect((await refusal(signOnly.publicKey))?.message).toMatch(
      /^encryptionKey: the key [0-9A-F]{40} cannot encrypt/,
    );
    const expired = recipientKeys({ expired: true });
    expect((await refusal(expired.publicKey))?.message).toMatch(
      /^encryptionKey: the key [0-9A-F]{40} cannot encrypt/,
    );
    expect((await refusal("x".repeat(70_000)))?.message).toMatch(/at most 65536 bytes/);
  });
});

describe("encryptedFor", () => {
  it("encrypts a stream the key's private half opens, byte for byte", async () => {
    const { publicKey, privateKey } = recipientKeys();
    const { key } = await readEncryptionKey(publicKey);
    const chunks = [Buffer.from("email;name\n"), Buffer.alloc(3 << 20, 0x61), Buffer.from("end\n")];
    async function* source() {
      yield* chunks;
    }
    const out: Buffer[] = [];
    for await (const chunk of encryptedFor(source(), key)) out.push(chunk);
    const encrypted = Buffer.concat(out);
    expect(encrypted.includes(Buffer.from("email;name"))).toBe(false);
    const { data } = await openpgp.decrypt({
      message: await openpgp.readMessage({ binaryMessage: encrypted }),
      decryptionKeys: await openpgp.readPrivateKey({ armoredKey: privateKey }),
      format: "binary",
    });
    expect(Buffer.from(data as Uint8Array).equals(Buffer.concat(chunks))).toBe(true);
  });

  it("passes a failure of its source on", async () => {
    const { key } = await readEncryptionKey(recipientKeys().publicKey);
    async function* failing() {
      yield Buffer.from("a");
      throw new Error("the engine stopped");
    }
    const read = async () => {
      for await (const _ of encryptedFor(failing(), key));
    };
    await expect(read()).rejects.toThrow("the engine stopped");
  });
});
