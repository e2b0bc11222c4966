import { Command } from "commander";
import {
  type ApiToken,
  createRole,
  createToken,
  createUser,
  deleteRole,
  deleteUser,
  getRoleByName,
  getUser,
  getUserByName,
  listRoles,
  listTokens,
  listUsers,
  type Permission,
  type Role,
  recordAccessChange,
  revokeToken,
  type User,
  updateRole,
  updateUser,
} from "../access/index.ts";
import { printJson, type StoreOptions, withHerald, withStoreOptions } from "./context.ts";

// The CLI acts on the store directly, as the operator of this machine (the local administrator),
// like every other command group; the audit log records it as `cli`.
const CLI_ACTOR = "cli";

type Json = StoreOptions & { json?: boolean };

/** Users, roles and tokens belong to no sandbox: their commands take no --sandbox. */
const newCommand = (name: string, description: string) =>
  withStoreOptions(new Command(name).description(description));

const collect = (value: string, previous: string[]) => [...previous, value];

function printUser(u: User) {
  const state = u.disabled ? "disabled" : "enabled";
  process.stdout.write(`${u.name.padEnd(24)} ${state.padEnd(8)}  roles: ${u.roles.join(", ") || "(none)"}\n`);
}

function printRole(r: Role) {
  const sandboxes = r.sandboxes === "all" ? "every sandbox" : `sandboxes ${r.sandboxes.join(", ")}`;
  process.stdout.write(`${r.name}  (${sandboxes})${r.builtin ? "  [shipped]" : ""}\n`);
  for (const permission of r.permissions) process.stdout.write(`    ${permission}\n`);
}

function printToken(t: ApiToken) {
  const state = t.revokedAt
    ? `revoked ${t.revokedAt.toISOString()}`
    : t.expiresAt
      ? `expires ${t.expiresAt.toISOString()}`
      : "no expiry";
  const used = t.lastUsedAt ? `last used ${t.lastUsedAt.toISOString()}` : "never used";
  process.stdout.write(`${t.id}  ${t.name}  (${state}, ${used})\n`);
}

/** `30d`, `12h`: the time that long from now; anything else is refused naming the flag. */
export function expiryFrom(expiresIn: string, now = new Date()): Date {
  const match = /^(\d+)\s*([dh])$/.exec(expiresIn.trim());
  if (!match || Number(match[1]) <= 0) {
    throw new Error(`--expires-in: '${expiresIn}' is not a duration such as 30d (days) or 12h (hours)`);
  }
  const hours = Number(match[1]) * (match[2] === "d" ? 24 : 1);
  return new Date(now.getTime() + hours * 3_600_000);
}

const createUserCommand = newCommand("create", "Create a user, with roles")
  .argument("<name>", "the user's name, as the audit log records it")
  .option("--role <role>", "a role to give, by name (repeat for several)", collect, [])
  .option("--display-name <text>", "the user's full name")
  .action((name: string, options: StoreOptions & { role: string[]; displayName?: string }) =>
    withHerald(options, async (herald) => {
      const user = await createUser(herald.store, {
        name,
        roles: options.role,
        ...(options.displayName ? { displayName: options.displayName } : {}),
      });
      await recordAccessChange(herald.store, CLI_ACTOR, "create", "user", user.id, {
        name: user.name,
        roles: user.roles,
      });
      printUser(user);
    }),
  );

const listUsersCommand = newCommand("list", "Users with their roles")
  .option("--json", "print JSON")
  .action((options: Json) =>
    withHerald(options, async (herald) => {
      const users = await listUsers(herald.store);
      if (options.json) return printJson(users);
      for (const u of users) printUser(u);
    }),
  );

function setDisabled(disabled: boolean) {
  const verb = disabled ? "disable" : "enable";
  return newCommand(verb, disabled ? "Disable a user: their tokens are refused" : "Enable a disabled user")
    .argument("<name>", "user name")
    .action((name: string, options: StoreOptions) =>
      withHerald(options, async (herald) => {
        const user = await getUserByName(herald.store, name);
        const updated = await updateUser(herald.store, user.id, { disabled });
        await recordAccessChange(herald.store, CLI_ACTOR, "update", "user", user.id, { name, disabled });
        printUser(updated);
      }),
    );
}

const userRolesCommand = newCommand("roles", "Give a user these roles, in place of their current ones")
  .argument("<name>", "user name")
  .option("--role <name>", "a role (repeat for several; none leaves the user without roles)", collect, [])
  .action((name: string, options: StoreOptions & { role: string[] }) =>
    withHerald(options, async (herald) => {
      const user = await getUserByName(herald.store, name);
      const updated = await updateUser(herald.store, user.id, { roles: options.role });
      await recordAccessChange(herald.store, CLI_ACTOR, "update", "user", user.id, {
        name,
        roles: updated.roles,
      });
      printUser(updated);
    }),
  );

const deleteUserCommand = newCommand("delete", "Delete a user and their tokens")
  .argument("<name>", "user name")
  .action((name: string, options: StoreOptions) =>
    withHerald(options, async (herald) => {
      const user = await getUserByName(herald.store, name);
      await deleteUser(herald.store, user.id);
      await recordAccessChange(herald.store, CLI_ACTOR, "delete", "user", user.id, { name });
      process.stdout.write(`deleted user ${name}\n`);
    }),
  );

export const usersCommand = new Command("users")
  .description("Users: who may call the API (with HERALD_AUTH=token), through their roles")
  .addCommand(createUserCommand)
  .addCommand(listUsersCommand)
  .addCommand(setDisabled(true))
  .addCommand(setDisabled(false))
  .addCommand(userRolesCommand)
  .addCommand(deleteUserCommand);

const listRolesCommand = newCommand("list", "Roles with their permissions and sandboxes")
  .option("--json", "print JSON")
  .action((options: Json) =>
    withHerald(options, async (herald) => {
      const roles = await listRoles(herald.store);
      if (options.json) return printJson(roles);
      for (const r of roles) printRole(r);
    }),
  );

const showRoleCommand = newCommand("show", "One role")
  .argument("<name>", "role name")
  .action((name: string, options: StoreOptions) =>
    withHerald(options, async (herald) => printJson(await getRoleByName(herald.store, name))),
  );

const createRoleCommand = newCommand("create", "Create a role granting permissions in some sandboxes, or all")
  .requiredOption("--name <name>", "role name")
  .option("--description <text>", "what the role is for")
  .option(
    "--permission <name>",
    "a permission to grant, e.g. 'View Segments' (repeat for several)",
    collect,
    [],
  )
  .option("--sandbox <name>", "a sandbox the role applies in (repeat; default: every sandbox)", collect, [])
  .action(
    (
      options: StoreOptions & {
        name: string;
        description?: string;
        permission: string[];
        sandbox: string[];
      },
    ) =>
      withHerald(options, async (herald) => {
        const role = await createRole(herald.store, {
          name: options.name,
          ...(options.description ? { description: options.description } : {}),
          // Checked against the permission names by the role's schema, which names the faulty one.
          permissions: options.permission as Permission[],
          sandboxes: options.sandbox.length ? options.sandbox : "all",
        });
        const { name, permissions, sandboxes } = role;
        await recordAccessChange(herald.store, CLI_ACTOR, "create", "role", role.id, {
          name,
          permissions,
          sandboxes,
        });
        printRole(role);
      }),
  );

const updateRoleCommand = newCommand(
  "update",
  "Change a role: what is given replaces the role's own (its users get it at their next request)",
)
  .argument("<name>", "role name")
  .option("--name <new name>", "a new name")
  .option("--description <text>", "what the role is for")
  .option("--permission <name>", "the permissions it grants (repeat; replaces them all)", collect, [])
  .option("--sandbox <name>", "the sandboxes it applies in (repeat; replaces them)", collect, [])
  .option("--all-sandboxes", "apply it in every sandbox")
  .action(
    (
      current: string,
      options: StoreOptions & {
        name?: string;
        description?: string;
        permission: string[];
        sandbox: string[];
        allSandboxes?: boolean;
      },
    ) =>
      withHerald(options, async (herald) => {
        if (options.allSandboxes && options.sandbox.length)
          throw new Error("give --sandbox or --all-sandboxes, not both");
        const role = await getRoleByName(herald.store, current);
        const patch = {
          ...(options.name ? { name: options.name } : {}),
          ...(options.description !== undefined ? { description: options.description } : {}),
          // Checked against the permission names by the role's schema, which names the faulty one.
          ...(options.permission.length ? { permissions: options.permission as Permission[] } : {}),
          ...(options.sandbox.length ? { sandboxes: options.sandbox } : {}),
          ...(options.allSandboxes ? { sandboxes: "all" as const } : {}),
        };
        if (!Object.keys(patch).length)
          throw new Error(
            "nothing to change: give --name, --description, --permission, --sandbox or --all-sandboxes",
          );
        const updated = await updateRole(herald.store, role.id, patch);
        const { name, permissions, sandboxes } = updated;
        await recordAccessChange(herald.store, CLI_ACTOR, "update", "role", role.id, {
          name,
          permissions,
          sandboxes,
        });
        printRole(updated);
      }),
  );

const deleteRoleCommand = newCommand(
  "delete",
  "Delete a role no user holds (the shipped Administrator stays)",
)
  .argument("<name>", "role name")
  .action((name: string, options: StoreOptions) =>
    withHerald(options, async (herald) => {
      const role = await getRoleByName(herald.store, name);
      await deleteRole(herald.store, role.id);
      await recordAccessChange(herald.store, CLI_ACTOR, "delete", "role", role.id, { name });
      process.stdout.write(`deleted role ${name}\n`);
    }),
  );

export const rolesCommand = new Command("roles")
  .description("Roles: permissions granted in some sandboxes, or in all of them")
  .addCommand(listRolesCommand)
  .addCommand(showRoleCommand)
  .addCommand(createRoleCommand)
  .addCommand(updateRoleCommand)
  .addCommand(deleteRoleCommand);

const createTokenCommand = newCommand("create", "Create an API token for a user; its secret is printed once")
  .argument("<user>", "user name")
  .option("--name <name>", "what the token is for")
  .option("--expires-in <duration>", "refuse the token after this long: 30d, 12h (default: never)")
  .action((userName: string, options: StoreOptions & { name?: string; expiresIn?: string }) =>
    withHerald(options, async (herald) => {
      const expiresAt = options.expiresIn ? expiryFrom(options.expiresIn) : undefined;
      const user = await getUserByName(herald.store, userName);
      const { token, secret } = await createToken(herald.store, user.id, {
        ...(options.name ? { name: options.name } : {}),
        ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
      });
      await recordAccessChange(herald.store, CLI_ACTOR, "create", "token", token.id, {
        user: user.name,
        name: token.name,
        ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
      });
      process.stdout.write(`${secret}\n`);
      process.stderr.write(
        `token ${token.id} for ${user.name}: this secret will not be shown again; send it as 'Authorization: Bearer <secret>'\n`,
      );
    }),
  );

const listTokensCommand = newCommand("list", "A user's API tokens (never their secrets)")
  .argument("<user>", "user name")
  .option("--json", "print JSON")
  .action((userName: string, options: Json) =>
    withHerald(options, async (herald) => {
      const user = await getUserByName(herald.store, userName);
      const tokens = await listTokens(herald.store, user.id);
      if (options.json) return printJson(tokens);
      for (const t of tokens) printToken(t);
    }),
  );

const revokeTokenCommand = newCommand("revoke", "Revoke an API token for good")
  .argument("<id>", "token id (from `herald tokens list <user>`)")
  .action((id: string, options: StoreOptions) =>
    withHerald(options, async (herald) => {
      const token = await revokeToken(herald.store, id);
      const user = await getUser(herald.store, token.userId);
      await recordAccessChange(herald.store, CLI_ACTOR, "revoke", "token", token.id, {
        user: user.name,
        name: token.name,
      });
      printToken(token);
    }),
  );

export const tokensCommand = new Command("tokens")
  .description("API tokens: how users call the API when HERALD_AUTH=token")
  .addCommand(createTokenCommand)
  .addCommand(listTokensCommand)
  .addCommand(revokeTokenCommand);
