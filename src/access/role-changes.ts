import { randomUUID } from "node:crypto";
import { conflict, HeraldError, parseInput } from "../errors/index.ts";
import type { Executor, Store } from "../store/index.ts";
import { keepAnAdministrator } from "./administrators.ts";
import { requireKnownNames } from "./known-names.ts";
import {
  getRole,
  ROLE_COLUMNS,
  type Role,
  type RoleInput,
  type RolePatch,
  type RoleSandboxes,
  roleInputSchema,
  rolePatchSchema,
} from "./roles.ts";

/** Refuses sandbox names that do not exist, naming each one's place in `sandboxes`. */
async function requireSandboxes(db: Executor, sandboxes: RoleSandboxes): Promise<void> {
  if (sandboxes === "all") return;
  const rows = await db.queryGlobal<{ name: string }>("SELECT name FROM sandboxes");
  const known = new Set(rows.map((r) => r.name));
  requireKnownNames({ what: "role", field: "sandboxes", kind: "sandbox" }, sandboxes, (name) =>
    known.has(name),
  );
}

async function requireFreeName(db: Executor, name: string, exceptId?: string): Promise<void> {
  const [row] = await db.queryGlobal<{ id: string }>("SELECT id FROM roles WHERE name = $1", [name]);
  if (row && row.id !== exceptId) throw conflict("role_exists", `A role named '${name}' already exists`);
}

const sandboxesColumn = (sandboxes: RoleSandboxes) =>
  sandboxes === "all" ? null : JSON.stringify([...new Set(sandboxes)]);

export async function createRole(store: Store, input: RoleInput): Promise<Role> {
  const role = parseInput(roleInputSchema, input, "role");
  await requireSandboxes(store, role.sandboxes);
  await requireFreeName(store, role.name);
  const id = randomUUID();
  await store.queryGlobal(`INSERT INTO roles (${ROLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`, [
    id,
    role.name,
    role.description ?? null,
    JSON.stringify([...new Set(role.permissions)]),
    sandboxesColumn(role.sandboxes),
    new Date(),
  ]);
  return getRole(store, id);
}

function refuseBuiltin(role: Role, change: string): void {
  if (role.builtin) {
    throw new HeraldError(
      "conflict",
      "role_builtin",
      `The role '${role.name}' ships with Herald and cannot be ${change}`,
    );
  }
}

/**
 * Changes a role's name, description, permissions or sandboxes; refused if no enabled user would
 * be left to manage users and roles.
 */
export async function updateRole(store: Store, id: string, patch: RolePatch): Promise<Role> {
  const change = parseInput(rolePatchSchema, patch, "role");
  return store.transaction(async (tx) => {
    const role = await getRole(tx, id);
    refuseBuiltin(role, "changed");
    if (change.sandboxes) await requireSandboxes(tx, change.sandboxes);
    if (change.name !== undefined) await requireFreeName(tx, change.name, id);
    await keepAnAdministrator(tx, store.engine, () =>
      tx.queryGlobal(
        "UPDATE roles SET name = $2, description = $3, permissions = $4, sandboxes = $5 WHERE id = $1",
        [
          id,
          change.name ?? role.name,
          change.description !== undefined ? change.description : (role.description ?? null),
          JSON.stringify([...new Set(change.permissions ?? role.permissions)]),
          sandboxesColumn(change.sandboxes ?? role.sandboxes),
        ],
      ),
    );
    return getRole(tx, id);
  });
}

/** Deletes a role no user holds; refused for the Administrator and for a role still assigned. */
export async function deleteRole(store: Store, id: string): Promise<Role> {
  return store.transaction(async (tx) => {
    const role = await getRole(tx, id);
    refuseBuiltin(role, "deleted");
    const holders = await tx.queryGlobal<{ name: string }>(
      `SELECT u.name FROM user_roles ur JOIN users u ON u.id = ur.user_id WHERE ur.role_id = $1 ORDER BY u.name`,
      [id],
    );
    if (holders.length) {
      throw conflict(
        "role_in_use",
        `The role '${role.name}' is held by ${holders.map((h) => h.name).join(", ")}: take it from them first`,
      );
    }
    await tx.queryGlobal("DELETE FROM roles WHERE id = $1", [id]);
    return role;
  });
}
