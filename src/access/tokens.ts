import { createHash, randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { HeraldError, notFound, parseInput, validationError } from "../errors/index.ts";
import type { Executor, Store } from "../store/index.ts";
import { USER_ADMINISTRATION } from "./administrators.ts";
import { type Actor, requirePermission } from "./permissions.ts";
import { permissionsIn, type Role, roleFromRow } from "./roles.ts";
import { getUser } from "./users.ts";

/** Every token starts with this, so that a leaked one is recognisable (secret scanners, logs). */
export const TOKEN_PREFIX = "hrld_";

/** A token as listed: never its secret, which only its creator sees, once. */
export interface ApiToken {
  id: string;
  userId: string;
  name: string;
  createdAt: Date;
  expiresAt?: Date;
  lastUsedAt?: Date;
  revokedAt?: Date;
}

export const tokenInputSchema = z.object({
  name: z.string().trim().min(1).max(100).default("API token").describe("what the token is for"),
  expiresAt: z.iso
    .datetime({ offset: true })
    .optional()
    .describe("ISO 8601 time after which the token is refused; never, when absent"),
});
export type TokenInput = z.input<typeof tokenInputSchema>;

/** The stored form of a secret: its SHA-256, hex. The secret's 256 random bits need no salt or stretching. */
export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const TOKEN_COLUMNS = "id, user_id, name, created_at, expires_at, last_used_at, revoked_at";

function tokenFromRow(r: TokenRow): ApiToken {
  return {
    id: r.id,
    userId: r.user_id,
    name: r.name,
    createdAt: r.created_at,
    ...(r.expires_at ? { expiresAt: r.expires_at } : {}),
    ...(r.last_used_at ? { lastUsedAt: r.last_used_at } : {}),
    ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}),
  };
}

/** Creates a token for a user: the answer holds its secret, which is stored nowhere (only its hash). */
export async function createToken(
  store: Store,
  userId: string,
  input: TokenInput = {},
  now = new Date(),
): Promise<{ token: ApiToken; secret: string }> {
  const given = parseInput(tokenInputSchema, input, "token");
  const expiresAt = given.expiresAt ? new Date(given.expiresAt) : undefined;
  if (expiresAt && expiresAt <= now) {
    throw validationError("Invalid token: expiresAt: must be in the future", [
      { field: "expiresAt", message: "expiresAt: must be in the future" },
    ]);
  }
  await getUser(store, userId);
  const secret = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  const token: ApiToken = { id: randomUUID(), userId, name: given.name, createdAt: now };
  await store.queryGlobal(
    `INSERT INTO api_tokens (hash, ${TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)`,
    [hashToken(secret), token.id, userId, token.name, now, expiresAt ?? null],
  );
  return { token: { ...token, ...(expiresAt ? { expiresAt } : {}) }, secret };
}

export async function listTokens(db: Executor, userId: string): Promise<ApiToken[]> {
  const rows = await db.queryGlobal<TokenRow>(
    `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id`,
    [userId],
  );
  return rows.map(tokenFromRow);
}

export async function getToken(db: Executor, id: string): Promise<ApiToken> {
  const [row] = await db.queryGlobal<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE id = $1`, [id]);
  if (!row) throw notFound("token", id);
  return tokenFromRow(row);
}

/** Revokes a token for good; revoking one already revoked keeps its first revocation time. */
export async function revokeToken(db: Executor, id: string, now = new Date()): Promise<ApiToken> {
  await getToken(db, id);
  await db.queryGlobal("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", [
    id,
    now,
  ]);
  return getToken(db, id);
}

/** A token's last use is written at most this often: not a write on every request. */
const LAST_USED_PRECISION_MS = 60_000;

export const unauthenticated = (message: string) =>
  new HeraldError("unauthenticated", "unauthenticated", message);

/** A user lists, creates and revokes their own tokens; anyone else's need Manage Users and Roles. */
export function requireTokenManager(actor: Actor, owner: { name: string }): void {
  if (actor.id !== owner.name) requirePermission(actor, USER_ADMINISTRATION);
}

/** Who presents a token: their user and roles (`actorOf` makes the actor they are in a sandbox). */
export interface Authenticated {
  userId: string;
  userName: string;
  roles: Role[];
}

/**
 * The user a bearer secret belongs to, with their roles, in one query by the secret's hash (the
 * comparison is the index lookup's, on a hash: nothing about the secret leaks through timing).
 * Refused (401) when the token is unknown, revoked or expired or its user is disabled; the message
 * never repeats the secret.
 */
export async function authenticateToken(
  db: Executor,
  secret: string,
  now = new Date(),
): Promise<Authenticated> {
  const hash = hashToken(secret);
  const rows = await db.queryGlobal<{
    token_id: string;
    expires_at: Date | null;
    revoked_at: Date | null;
    last_used_at: Date | null;
    user_id: string;
    user_name: string;
    disabled: boolean;
    id: string | null;
    name: string;
    description: string | null;
    permissions: string;
    sandboxes: string | null;
    created_at: Date;
  }>(
    `SELECT t.id AS token_id, t.expires_at, t.revoked_at, t.last_used_at,
            u.id AS user_id, u.name AS user_name, u.disabled,
            r.id, r.name, r.description, r.permissions, r.sandboxes, r.created_at
     FROM api_tokens t
     JOIN users u ON u.id = t.user_id
     LEFT JOIN user_roles ur ON ur.user_id = u.id
     LEFT JOIN roles r ON r.id = ur.role_id
     WHERE t.hash = $1`,
    [hash],
  );
  const [first] = rows;
  if (!first) throw unauthenticated("The API token is not valid");
  if (first.revoked_at) throw unauthenticated("The API token has been revoked");
  if (first.expires_at && first.expires_at <= now) {
    throw unauthenticated(`The API token expired at ${first.expires_at.toISOString()}`);
  }
  if (first.disabled) throw unauthenticated(`The API token's user '${first.user_name}' is disabled`);
  if (!first.last_used_at || now.getTime() - first.last_used_at.getTime() >= LAST_USED_PRECISION_MS) {
    // Best effort: the time is advisory, and two requests writing it at once may conflict on DuckDB.
    await db
      .queryGlobal("UPDATE api_tokens SET last_used_at = $2 WHERE hash = $1", [hash, now])
      .catch(() => undefined);
  }
  const roles = rows.flatMap((r) => (r.id === null ? [] : [roleFromRow({ ...r, id: r.id })]));
  return { userId: first.user_id, userName: first.user_name, roles };
}

/** The actor an authenticated user is in a sandbox (`null`: outside sandboxes); its id is the user's name. */
export function actorOf(who: Authenticated, sandbox: string | null): Actor {
  return { id: who.userName, permissions: permissionsIn(who.roles, sandbox) };
}

/** Whether any enabled user holds a token that is neither revoked nor expired: whether anyone can call the API. */
export async function anyUsableToken(db: Executor, now = new Date()): Promise<boolean> {
  const rows = await db.queryGlobal(
    `SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id
     WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1) AND NOT u.disabled
     LIMIT 1`,
    [now],
  );
  return rows.length > 0;
}
