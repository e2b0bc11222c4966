import { conflict } from "../errors/index.ts";
import type { Engine, Executor } from "../store/index.ts";
import type { Permission } from "./permissions.ts";
import { permissionsIn, rolesByUser } from "./roles.ts";

/** What administering users, roles and others' tokens needs, in every sandbox. */
export const USER_ADMINISTRATION: Permission = "Manage Users and Roles";

/** The names of the enabled users who may manage users and roles (through roles covering every sandbox). */
export async function administrators(db: Executor): Promise<string[]> {
  const users = await db.queryGlobal<{ id: string; name: string }>(
    "SELECT id, name FROM users WHERE NOT disabled ORDER BY name",
  );
  const roles = await rolesByUser(db);
  return users
    .filter((u) => permissionsIn(roles.get(u.id) ?? [], null).has(USER_ADMINISTRATION))
    .map((u) => u.name);
}

/**
 * Runs a change (inside the caller's transaction, on `engine`) and refuses it if it leaves no enabled user able
 * to manage users and roles where there was one: nobody could then give or take access through
 * the API. Before the first administrator exists there is nothing to keep. Applied whatever
 * HERALD_AUTH says: the setting may change, and processes sharing a store may differ.
 */
export async function keepAnAdministrator<T>(
  tx: Executor,
  engine: Engine,
  change: () => Promise<T>,
): Promise<T> {
  // Such changes take turns: two transactions each disabling one of two administrators would
  // otherwise both see the other still enabled. (DuckDB runs one write transaction at a time.)
  // The lock conflicts with itself and with writes to user_roles, and lasts until commit.
  if (engine === "postgres") await tx.queryGlobal("LOCK TABLE user_roles IN SHARE ROW EXCLUSIVE MODE");
  const before = await administrators(tx);
  const result = await change();
  if (before.length && !(await administrators(tx)).length) {
    throw conflict(
      "last_administrator",
      `Refused: no enabled user would be left with '${USER_ADMINISTRATION}' in every sandbox (now: ${before.join(", ")}); give it to another user first`,
    );
  }
  return result;
}
