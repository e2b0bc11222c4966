/**
 * Azure Key Vault for tests: a TEST STAND-IN, not an emulator (none runs here). It follows the
 * documented Key Vault REST API (https://learn.microsoft.com/rest/api/keyvault/keys/):
 * `GET {vault}/keys/{name}/{version}` answers the key bundle (public part only), `POST
 * .../wrapkey` and `.../unwrapkey` with `{"alg": "RSA-OAEP-256", "value": <base64url>}` answer
 * `{"kid": ..., "value": <base64url>}`, errors are `{"error": {"code", "message", "innererror"}}`.
 * Like the real service it answers a request without a token with 401 and a `WWW-Authenticate:
 * Bearer authorization=..., resource=...` challenge, and accepts one bearer token only.
 *
 * Each key is a real RSA-2048 key pair from node:crypto doing real RSA-OAEP with SHA-256. A key can
 * be disabled (403 Forbidden / KeyDisabled), access to it denied (403 Forbidden / ForbiddenByRbac),
 * deleted (404 KeyNotFound), or the whole vault made to fail (500), and restored.
 */
import {
  constants,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export type VaultKeyState = "enabled" | "disabled" | "denied" | "deleted";

export interface KeyVaultStandIn {
  vaultUrl: string;
  /** The one bearer token the vault accepts (give it with a static TokenCredential). */
  token: string;
  /** Creates an RSA key and returns its id `{vault}/keys/{name}/{version}`. */
  createKey(name: string): string;
  setState(keyId: string, state: VaultKeyState): void;
  /** Every call made, as "METHOD operation" ("POST wrapkey", "GET key"). */
  calls: string[];
  /** While set, every call fails with this HTTP status. */
  failWith?: number;
  close(): Promise<void>;
}

const OAEP_SHA256 = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };

export async function startKeyVault(): Promise<KeyVaultStandIn> {
  const keys = new Map<string, { publicKey: KeyObject; privateKey: KeyObject; state: VaultKeyState }>();
  const calls: string[] = [];
  const token = randomBytes(16).toString("hex");
  const standIn: Partial<KeyVaultStandIn> = { calls, token };
  let vaultUrl = "";

  const error = (status: number, code: string, message: string, inner?: string) => ({
    status,
    body: { error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) } },
  });

  function operate(method: string, path: string, body: Record<string, unknown>) {
    const match = /^\/keys\/([^/]+)\/([^/]+)(?:\/(wrapkey|unwrapkey))?$/.exec(path);
    if (!match) return error(404, "NotFound", `No route ${method} ${path}`);
    const [, name, version, operation = "get"] = match;
    const kid = `${vaultUrl}/keys/${name}/${version}`;
    calls.push(`${method} ${operation}`);
    const key = keys.get(kid);
    if (!key || key.state === "deleted") {
      return error(404, "KeyNotFound", `A key with (name/id) ${name} was not found in this key vault.`);
    }
    if (key.state === "denied") {
      return error(
        403,
        "Forbidden",
        `Caller is not authorized to perform action on resource. Action: 'Microsoft.KeyVault/vaults/keys/${operation}/action'`,
        "ForbiddenByRbac",
      );
    }
    if (key.state === "disabled") {
      return error(
        403,
        "Forbidden",
        `Operation ${operation === "get" ? "get" : operation.replace("key", "Key")} is not allowed on a disabled key.`,
        "KeyDisabled",
      );
    }
    if (operation === "get") {
      const { n, e } = key.publicKey.export({ format: "jwk" });
      return {
        status: 200,
        body: {
          key: { kid, kty: "RSA", key_ops: ["wrapKey", "unwrapKey"], n, e },
          attributes: {
            enabled: true,
            created: 1_700_000_000,
            updated: 1_700_000_000,
            recoveryLevel: "Recoverable",
          },
        },
      };
    }
    if (body.alg !== "RSA-OAEP-256")
      return error(400, "BadParameter", `Algorithm '${String(body.alg)}' is not supported here`);
    const value = Buffer.from(String(body.value ?? ""), "base64url");
    try {
      const result =
        operation === "wrapkey"
          ? publicEncrypt({ key: key.publicKey, ...OAEP_SHA256 }, value)
          : privateDecrypt({ key: key.privateKey, ...OAEP_SHA256 }, value);
      return { status: 200, body: { kid, value: result.toString("base64url") } };
    } catch {
      return error(400, "BadParameter", "Cannot unwrap the given value with this key.");
    }
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", vaultUrl);
      const send = (answer: { status: number; body: unknown }, headers: Record<string, string> = {}) => {
        res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", ...headers });
        res.end(JSON.stringify(answer.body));
      };
      if (standIn.failWith !== undefined)
        return send(error(standIn.failWith, "InternalServerError", "Internal error"));
      if (!url.searchParams.get("api-version"))
        return send(error(400, "BadParameter", "api-version is required"));
      if (req.headers.authorization !== `Bearer ${token}`) {
        return send(error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."), {
          "www-authenticate":
            'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"',
        });
      }
      const text = Buffer.concat(chunks).toString("utf8");
      send(operate(req.method ?? "GET", url.pathname, text ? JSON.parse(text) : {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  vaultUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(standIn, {
    vaultUrl,
    createKey: (name: string) => {
      const kid = `${vaultUrl}/keys/${name}/${randomBytes(16).toString("hex")}`;
      keys.set(kid, { ...generateKeyPairSync("rsa", { modulusLength: 2048 }), state: "enabled" });
      return kid;
    },
    setState: (keyId: string, state: VaultKeyState) => {
      const key = keys.get(keyId);
      if (!key) throw new Error(`no key ${keyId}`);
      key.state = state;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as KeyVaultStandIn;
}
