import { z } from "zod";
import { notFound } from "../errors/index.ts";
import type { Executor } from "../store/index.ts";
import { ADMINISTRATOR_ROLE_ID } from "./migrations.ts";
import { PERMISSIONS, type Permission } from "./permissions.ts";

/** The sandboxes a role applies in: named ones, or every sandbox (present and future). */
export type RoleSandboxes = "all" | string[];

export interface Role {
  id: string;
  name: string;
  description?: string;
  permissions: Permission[];
  sandboxes: RoleSandboxes;
  /** The shipped Administrator: every permission, every sandbox; cannot be changed or deleted. */
  builtin: boolean;
  createdAt: Date;
}

export const roleNameSchema = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(100, "must be at most 100 characters");

const roleSandboxesSchema = z
  .union([z.literal("all"), z.array(z.string()).min(1, "must name at least one sandbox, or be 'all'")])
  .describe("the sandboxes the role applies in, or 'all' (every sandbox, present and future)");

const roleFields = {
  name: roleNameSchema,
  description: z.string().max(500).optional(),
  permissions: z.array(z.enum(PERMISSIONS)).min(1, "must grant at least one permission"),
  sandboxes: roleSandboxesSchema,
};

/** A role as it is created; every field is named in its error. */
export const roleInputSchema = z.object({ ...roleFields, sandboxes: roleSandboxesSchema.default("all") });
export type RoleInput = z.input<typeof roleInputSchema>;

/** A change to a role: what it names, no more (no default may widen a role's sandboxes). */
export const rolePatchSchema = z.object(roleFields).partial();
export type RolePatch = z.input<typeof rolePatchSchema>;

interface RoleRow {
  id: string;
  name: string;
  description: string | null;
  permissions: string;
  sandboxes: string | null;
  created_at: Date;
}

export const ROLE_COLUMNS = "id, name, description, permissions, sandboxes, created_at";

export function roleFromRow(r: RoleRow): Role {
  const builtin = r.id === ADMINISTRATOR_ROLE_ID;
  return {
    id: r.id,
    name: r.name,
    ...(r.description ? { description: r.description } : {}),
    // The Administrator holds every permission Herald knows now, including ones added after it shipped.
    permissions: builtin ? [...PERMISSIONS] : (JSON.parse(r.permissions) as Permission[]),
    sandboxes: r.sandboxes === null ? "all" : (JSON.parse(r.sandboxes) as string[]),
    builtin,
    createdAt: r.created_at,
  };
}

/** Whether a role applies in `sandbox`; `null` stands for what lies outside sandboxes (users, sandboxes). */
export function roleCovers(role: Pick<Role, "sandboxes">, sandbox: string | null): boolean {
  if (role.sandboxes === "all") return true;
  return sandbox !== null && role.sandboxes.includes(sandbox);
}

/**
 * The permissions roles grant in a sandbox: the union of those of the roles that cover it. Outside
 * sandboxes (`null`) only roles covering every sandbox count: a role limited to some sandboxes
 * must not create sandboxes, users or roles, which would reach beyond them.
 */
export function permissionsIn(roles: readonly Role[], sandbox: string | null): Set<Permission> {
  return new Set(roles.filter((r) => roleCovers(r, sandbox)).flatMap((r) => r.permissions));
}

export async function listRoles(db: Executor): Promise<Role[]> {
  const rows = await db.queryGlobal<RoleRow>(`SELECT ${ROLE_COLUMNS} FROM roles ORDER BY name`);
  return rows.map(roleFromRow);
}

export async function getRole(db: Executor, id: string): Promise<Role> {
  const [row] = await db.queryGlobal<RoleRow>(`SELECT ${ROLE_COLUMNS} FROM roles WHERE id = $1`, [id]);
  if (!row) throw notFound("role", id);
  return roleFromRow(row);
}

export async function getRoleByName(db: Executor, name: string): Promise<Role> {
  const [row] = await db.queryGlobal<RoleRow>(`SELECT ${ROLE_COLUMNS} FROM roles WHERE name = $1`, [name]);
  if (!row) throw notFound("role", name);
  return roleFromRow(row);
}

/** Each user's roles (of one user, or of every user), by user id, in name order. */
export async function rolesByUser(db: Executor, userId?: string): Promise<Map<string, Role[]>> {
  const rows = await db.queryGlobal<RoleRow & { user_id: string }>(
    `SELECT ur.user_id, r.id, r.name, r.description, r.permissions, r.sandboxes, r.created_at
     FROM user_roles ur JOIN roles r ON r.id = ur.role_id
     WHERE ($1::TEXT IS NULL OR ur.user_id = $1) ORDER BY r.name`,
    [userId ?? null],
  );
  const byUser = new Map<string, Role[]>();
  for (const row of rows) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), roleFromRow(row)]);
  return byUser;
}
