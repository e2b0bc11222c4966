import type { Migration } from "../store/index.ts";

/** The id of the shipped role that holds every permission in every sandbox. */
export const ADMINISTRATOR_ROLE_ID = "administrator";

/** The access part's tables; apply with `migrate(db, engine, "access", accessMigrations)`. */
export const accessMigrations: Migration[] = [
  {
    version: 1,
    name: "users, roles, role assignments, API tokens",
    statements: (engine) => [
      `CREATE TABLE users (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         display_name TEXT,
         created_at TIMESTAMPTZ NOT NULL,
         disabled BOOLEAN NOT NULL DEFAULT FALSE
       )`,
      // permissions: a JSON list of permission names; sandboxes: a JSON list of sandbox names, NULL
      // for every sandbox (present and future).
      `CREATE TABLE roles (
         id TEXT PRIMARY KEY,
         name TEXT NOT NULL UNIQUE,
         description TEXT,
         permissions TEXT NOT NULL,
         sandboxes TEXT,
         created_at TIMESTAMPTZ NOT NULL
       )`,
      // DuckDB refuses to re-insert a key deleted in the same transaction (replacing a user's roles):
      // the key is PostgreSQL's only; the code never inserts a pair twice.
      `CREATE TABLE user_roles (
         user_id TEXT NOT NULL,
         role_id TEXT NOT NULL
         ${engine === "postgres" ? ", PRIMARY KEY (user_id, role_id)" : ""}
       )`,
      // Only the secret's SHA-256 is kept: a token is found by its hash (the primary key's index),
      // and a stolen copy of the store yields no usable token.
      `CREATE TABLE api_tokens (
         hash TEXT PRIMARY KEY,
         id TEXT NOT NULL UNIQUE,
         user_id TEXT NOT NULL,
         name TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         expires_at TIMESTAMPTZ,
         last_used_at TIMESTAMPTZ,
         revoked_at TIMESTAMPTZ
       )`,
      // The Administrator's permissions are every permission Herald knows at the time it reads the
      // role (src/access/roles.ts), so permissions added later belong to it too: none are stored.
      `INSERT INTO roles (id, name, description, permissions, sandboxes, created_at)
       VALUES ('${ADMINISTRATOR_ROLE_ID}', 'Administrator', 'Every permission in every sandbox', '[]', NULL, CURRENT_TIMESTAMP)`,
    ],
  },
];
