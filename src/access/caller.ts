import type { Executor } from "../store/index.ts";
import { type Actor, localAdministrator, PERMISSIONS, type Permission } from "./permissions.ts";
import { roleCovers, rolesByUser } from "./roles.ts";

/** Who is calling, in a sandbox: what GET /v1/me answers. */
export interface Caller {
  name: string;
  /** False for the local administrator (HERALD_AUTH=none), who is no stored user. */
  user: boolean;
  sandbox: string;
  /** The caller's roles that apply in the sandbox. */
  roles: string[];
  permissions: Permission[];
}

export async function describeCaller(db: Executor, actor: Actor, sandbox: string): Promise<Caller> {
  const permissions = PERMISSIONS.filter((p) => actor.permissions.has(p));
  const [row] =
    actor === localAdministrator
      ? []
      : await db.queryGlobal<{ id: string }>("SELECT id FROM users WHERE name = $1", [actor.id]);
  const roles = row ? ((await rolesByUser(db, row.id)).get(row.id) ?? []) : [];
  return {
    name: actor.id,
    user: row !== undefined,
    sandbox,
    roles: roles.filter((r) => roleCovers(r, sandbox)).map((r) => r.name),
    permissions,
  };
}
