import type { Migration } from "../store/index.ts";

export const activationMigrations: Migration[] = [
  {
    version: 1,
    name: "dataflows, their segments, runs",
    statements: () => [
      `CREATE TABLE dataflows (
         id TEXT PRIMARY KEY,
         sandbox TEXT NOT NULL,
         name TEXT NOT NULL,
         description TEXT,
         account_id TEXT NOT NULL,
         destination_id TEXT NOT NULL,
         details TEXT NOT NULL,
         marketing_actions TEXT NOT NULL,
         mapping TEXT NOT NULL,
         file_options TEXT NOT NULL,
         status TEXT NOT NULL,
         created_at TIMESTAMPTZ NOT NULL,
         updated_at TIMESTAMPTZ NOT NULL
       )`,
      `CREATE TABLE dataflow_segments (
         dataflow_id TEXT NOT NULL,
         sandbox TEXT NOT NULL,
         segment_id TEXT NOT NULL,
         schedule TEXT NOT NULL,
         file_name_template TEXT NOT NULL,
         export_mode TEXT NOT NULL,
         last_scheduled_for TIMESTAMPTZ,
         last_success_at TIMESTAMPTZ,
         PRIMARY KEY (dataflow_id, segment_id)
       )`,
      `CREATE TABLE runs (
         id TEXT PRIMARY KEY,
         sandbox TEXT NOT NULL,
         dataflow_id TEXT NOT NULL,
         segment_id TEXT NOT NULL,
         run_trigger TEXT NOT NULL,
         scheduled_for TIMESTAMPTZ NOT NULL,
         status TEXT NOT NULL,
         started_at TIMESTAMPTZ NOT NULL,
         finished_at TIMESTAMPTZ,
         heartbeat_at TIMESTAMPTZ NOT NULL,
         received BIGINT NOT NULL DEFAULT 0,
         activated BIGINT NOT NULL DEFAULT 0,
         excluded TEXT NOT NULL DEFAULT '{}',
         failed BIGINT NOT NULL DEFAULT 0,
         bytes BIGINT NOT NULL DEFAULT 0,
         files TEXT NOT NULL DEFAULT '[]',
         errors TEXT NOT NULL DEFAULT '[]',
         progress_rows BIGINT NOT NULL DEFAULT 0
       )`,
    ],
  },
  {
    version: 2,
    name: "runs: the rows a run expects to write, for its progress",
    statements: () => ["ALTER TABLE runs ADD COLUMN expected_rows BIGINT"],
  },
  {
    version: 3,
    name: "alerts on runs: subscriptions and what was sent",
    statements: () => [
      `CREATE TABLE alert_subscriptions (
         id TEXT PRIMARY KEY,
         sandbox TEXT NOT NULL,
         name TEXT NOT NULL,
         account_id TEXT NOT NULL,
         events TEXT NOT NULL,
         dataflow_id TEXT,
         delayed_after_minutes INTEGER NOT NULL,
         skipped_rate_above DOUBLE PRECISION NOT NULL,
         created_at TIMESTAMPTZ NOT NULL
       )`,
      // One row per (subscription, run, event): claimed before sending, so an alert goes out once
      // whichever process sees the event first.
      `CREATE TABLE alert_deliveries (
         sandbox TEXT NOT NULL,
         subscription_id TEXT NOT NULL,
         run_id TEXT NOT NULL,
         event TEXT NOT NULL,
         status TEXT NOT NULL,
         error TEXT,
         updated_at TIMESTAMPTZ NOT NULL,
         PRIMARY KEY (subscription_id, run_id, event)
       )`,
    ],
  },
];
