import type { Migration } from "../store/index.ts";

/** The profiles part's tables; apply with `migrate(db, engine, "profiles", profileMigrations)`. */
export const profileMigrations: Migration[] = [
  {
    version: 1,
    name: "event types each sandbox has stored",
    // Event types are free strings: this list is what tells a segment reading a type no event has
    // ever had (a typo) from one reading a type whose events have simply not arrived yet.
    statements: () => [
      `CREATE TABLE event_types (
         sandbox TEXT NOT NULL,
         event_type TEXT NOT NULL,
         first_seen TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (sandbox, event_type)
       )`,
    ],
    // The types of the events stored before this table existed, first seen when first ingested.
    backfill: async (db) => {
      const sandboxes = await db.queryGlobal<{ name: string }>("SELECT name FROM sandboxes");
      for (const { name } of sandboxes) {
        await db.query(
          name,
          `INSERT INTO event_types (sandbox, event_type, first_seen)
           SELECT CAST($sandbox AS TEXT), _type, min(_ingested_at) FROM {events} GROUP BY _type`,
        );
      }
    },
  },
];
