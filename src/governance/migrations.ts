import type { Migration } from "../store/index.ts";

/** Governance's tables; apply with `migrate(db, engine, "governance", governanceMigrations)`. */
export const governanceMigrations: Migration[] = [
  {
    version: 1,
    name: "custom labels, custom marketing actions, policies",
    statements: () => [
      `CREATE TABLE governance_labels (
         sandbox TEXT NOT NULL,
         name TEXT NOT NULL,
         description TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (sandbox, name)
       )`,
      `CREATE TABLE governance_marketing_actions (
         sandbox TEXT NOT NULL,
         id TEXT NOT NULL,
         name TEXT NOT NULL,
         description TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (sandbox, id)
       )`,
      // expression: the label expression as JSON; core: shipped (status changes only).
      `CREATE TABLE governance_policies (
         sandbox TEXT NOT NULL,
         id TEXT NOT NULL,
         name TEXT NOT NULL,
         description TEXT NOT NULL,
         marketing_action TEXT NOT NULL,
         expression TEXT NOT NULL,
         status TEXT NOT NULL,
         core BOOLEAN NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (sandbox, id)
       )`,
    ],
  },
  {
    version: 2,
    name: "consent policies",
    // allowed_values: JSON list of the values that mean consent; marketing_action: the action's id.
    statements: () => [
      `CREATE TABLE governance_consent_policies (
         sandbox TEXT NOT NULL,
         id TEXT NOT NULL,
         name TEXT NOT NULL,
         marketing_action TEXT NOT NULL,
         field TEXT NOT NULL,
         allowed_values TEXT NOT NULL,
         status TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (sandbox, id)
       )`,
    ],
  },
];
