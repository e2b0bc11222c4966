import { randomUUID } from "node:crypto";
import { z } from "zod";
import { conflict, notFound, parseInput } from "../errors/index.ts";
import type { Executor, Store } from "../store/index.ts";
import { keepAnAdministrator } from "./administrators.ts";
import { requireKnownNames } from "./known-names.ts";
import { listRoles, rolesByUser } from "./roles.ts";

export interface User {
  id: string;
  name: string;
  displayName?: string;
  createdAt: Date;
  disabled: boolean;
  /** The names of the roles the user holds. */
  roles: string[];
}

/** A user's name is what the audit log records as the actor: short, printable, no spaces. */
export const userNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/,
    "must be 1-100 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
  );

const roleNamesSchema = z.array(z.string()).describe("the names of the roles the user holds");

export const userInputSchema = z.object({
  name: userNameSchema,
  displayName: z.string().max(200).optional(),
  roles: roleNamesSchema.default([]),
});
export type UserInput = z.input<typeof userInputSchema>;

export const userPatchSchema = z.object({
  displayName: z.string().max(200).optional(),
  disabled: z.boolean().optional().describe("a disabled user's tokens are refused"),
  roles: roleNamesSchema.optional().describe("replaces the user's roles"),
});
export type UserPatch = z.input<typeof userPatchSchema>;

interface UserRow {
  id: string;
  name: string;
  display_name: string | null;
  created_at: Date;
  disabled: boolean;
}

const USER_COLUMNS = "id, name, display_name, created_at, disabled";

function userFromRow(r: UserRow, roles: readonly { name: string }[]): User {
  return {
    id: r.id,
    name: r.name,
    ...(r.display_name ? { displayName: r.display_name } : {}),
    createdAt: r.created_at,
    disabled: r.disabled,
    roles: roles.map((role) => role.name),
  };
}

export async function listUsers(db: Executor): Promise<User[]> {
  const rows = await db.queryGlobal<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY name`);
  const roles = await rolesByUser(db);
  return rows.map((r) => userFromRow(r, roles.get(r.id) ?? []));
}

async function findUser(db: Executor, column: "id" | "name", value: string): Promise<User> {
  const [row] = await db.queryGlobal<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE ${column} = $1`, [
    value,
  ]);
  if (!row) throw notFound("user", value);
  return userFromRow(row, (await rolesByUser(db, row.id)).get(row.id) ?? []);
}

export const getUser = (db: Executor, id: string) => findUser(db, "id", id);
export const getUserByName = (db: Executor, name: string) => findUser(db, "name", name);

/** The ids of the named roles; unknown names are refused, each named by its place in `roles`. */
async function roleIds(db: Executor, names: readonly string[]): Promise<string[]> {
  const byName = new Map((await listRoles(db)).map((r) => [r.name, r.id]));
  requireKnownNames({ what: "user", field: "roles", kind: "role" }, names, (name) => byName.has(name));
  return [...new Set(names.map((name) => byName.get(name) as string))];
}

async function assignRoles(db: Executor, userId: string, ids: readonly string[]): Promise<void> {
  await db.queryGlobal("DELETE FROM user_roles WHERE user_id = $1", [userId]);
  for (const roleId of ids) {
    await db.queryGlobal("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)", [userId, roleId]);
  }
}

export async function createUser(store: Store, input: UserInput): Promise<User> {
  const user = parseInput(userInputSchema, input, "user");
  return store.transaction(async (tx) => {
    const existing = await tx.queryGlobal("SELECT id FROM users WHERE name = $1", [user.name]);
    if (existing.length) throw conflict("user_exists", `A user named '${user.name}' already exists`);
    const ids = await roleIds(tx, user.roles);
    const id = randomUUID();
    await tx.queryGlobal(`INSERT INTO users (${USER_COLUMNS}) VALUES ($1, $2, $3, $4, FALSE)`, [
      id,
      user.name,
      user.displayName ?? null,
      new Date(),
    ]);
    await assignRoles(tx, id, ids);
    return getUser(tx, id);
  });
}

/**
 * Changes a user's display name, roles, or whether they are disabled; refused if no enabled user
 * would be left to manage users and roles.
 */
export async function updateUser(store: Store, id: string, patch: UserPatch): Promise<User> {
  const change = parseInput(userPatchSchema, patch, "user");
  return store.transaction(async (tx) => {
    const user = await getUser(tx, id);
    const ids = change.roles ? await roleIds(tx, change.roles) : undefined;
    await keepAnAdministrator(tx, store.engine, async () => {
      await tx.queryGlobal("UPDATE users SET display_name = $2, disabled = $3 WHERE id = $1", [
        id,
        change.displayName ?? user.displayName ?? null,
        change.disabled ?? user.disabled,
      ]);
      if (ids) await assignRoles(tx, id, ids);
    });
    return getUser(tx, id);
  });
}

/** Deletes a user with their roles and tokens; refused for the last one able to manage users and roles. */
export async function deleteUser(store: Store, id: string): Promise<User> {
  return store.transaction(async (tx) => {
    const user = await getUser(tx, id);
    await keepAnAdministrator(tx, store.engine, async () => {
      await tx.queryGlobal("DELETE FROM api_tokens WHERE user_id = $1", [id]);
      await tx.queryGlobal("DELETE FROM user_roles WHERE user_id = $1", [id]);
      await tx.queryGlobal("DELETE FROM users WHERE id = $1", [id]);
    });
    return user;
  });
}
