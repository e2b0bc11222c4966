import type { Migration } from "../store/index.ts";

export const destinationMigrations: Migration[] = [
  {
    version: 1,
    name: "accounts",
    statements: () => [
      `CREATE TABLE accounts (
         id TEXT PRIMARY KEY,
         sandbox TEXT NOT NULL,
         destination_id TEXT NOT NULL,
         name TEXT NOT NULL,
         connection_public TEXT NOT NULL,
         connection_sealed TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL,
         validated_at TIMESTAMPTZ
       )`,
    ],
  },
  {
    version: 2,
    name: "accounts keep the details they were validated with",
    // Accounts from before have none ('{}'): re-validating one that needs details asks for them once.
    statements: () => ["ALTER TABLE accounts ADD COLUMN validation_details TEXT DEFAULT '{}'"],
  },
  {
    version: 3,
    name: "accounts may have their own rate for streamed records",
    // NULL: the process-wide rate (HERALD_STREAMING_RECORDS_PER_SECOND) applies, as before.
    statements: () => ["ALTER TABLE accounts ADD COLUMN records_per_second INTEGER"],
  },
  {
    version: 4,
    name: "file destinations may encrypt their files to an OpenPGP public key",
    // The armored public key (not a secret) and what the API shows of it; NULL: no encryption.
    statements: () => [
      "ALTER TABLE accounts ADD COLUMN encryption_key TEXT",
      "ALTER TABLE accounts ADD COLUMN encryption_summary TEXT",
    ],
  },
];
