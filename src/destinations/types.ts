import type { Readable } from "node:stream";
import type { z } from "zod";

/**
 * The connector contract. A connector says what it is (a catalog entry with zod schemas for its
 * connection and dataflow fields), how to check credentials, and how to deliver: put whole files
 * (file connectors) or send batches of records (streaming connectors). Batching, retries, backoff,
 * resubmission of failed records and progress live once, in the shared machinery, not here.
 */
export type DestinationCategory = "cloud_storage" | "streaming" | "email_marketing" | "advertising";
export type ExportType = "profile" | "segment";

export interface DestinationDefinition<Connection = unknown, Details = unknown> {
  id: string;
  name: string;
  description: string;
  category: DestinationCategory;
  exportType: ExportType;
  /** Credentials and endpoint; validated when an account is created and stored sealed. */
  connectionSchema: z.ZodType<Connection>;
  /** Names of connection fields that are secrets: never returned, logged or put in an error. */
  secretFields: readonly string[];
  /**
   * Connection fields shown in part: the API shows `redact(value)` and the full value is sealed
   * with the secrets (the HTTP URL is shown without its query, which may hold an API key).
   */
  redactedFields?: Readonly<Record<string, (value: string) => string>>;
  /** Per-dataflow details (folder path, bucket, stream name, ...). */
  detailsSchema: z.ZodType<Details>;
  connector: FileConnector<Connection, Details> | StreamConnector<Connection, Details>;
  /** Presets applied to dataflows of this destination (e.g. hashed identifiers for advertising). */
  presets?: { identityHashing?: "sha256"; requiredIdentity?: string };
}

export interface FileConnector<Connection, Details> {
  kind: "file";
  /**
   * Checks that the credentials work and the target (folder, bucket, container) exists and is
   * writable. Throws a HeraldError: `auth_failed` (wrong password/key), `unavailable` (unknown host,
   * refused, timeout), `not_found` (missing folder/bucket/container), `forbidden` (no write
   * permission), each with a message that names the setting and never contains a secret.
   */
  validate(connection: Connection, details: Details, signal?: AbortSignal): Promise<void>;
  /** Opens one session (one SSH connection, one S3 client) for a run's uploads. */
  open(connection: Connection, details: Details): Promise<FileSession>;
}

export interface PutResult {
  /** Path of the file at the destination, as a user would look for it. */
  location: string;
  bytes: number;
}

export interface FileSession {
  /**
   * Writes `body` to `name` inside the configured folder, atomically: under a temporary name
   * first, renamed or committed only once complete and verified, so nobody ever sees a partial
   * file under `name`. If `body` errors or `signal` aborts, the temporary object is removed.
   */
  putFile(name: string, body: Readable, options?: { signal?: AbortSignal }): Promise<PutResult>;
  /** Reads back a delivered file (tests, verification). */
  getFile(name: string): Promise<Buffer>;
  /** Lists file names in the folder (without temporaries). */
  listFiles(): Promise<string[]>;
  /**
   * Deletes `name` inside the configured folder (resolved as `putFile` resolves it); a file
   * already missing is no error. Used to remove the parts an earlier run of the same scheduled time
   * wrote and a rerun did not: `await session.deleteFile("audience_20261120_3.csv.gz")`.
   */
  deleteFile(name: string): Promise<void>;
  /** Removes temporaries left by an interrupted upload; returns how many were removed. */
  cleanupTemporaries(): Promise<number>;
  close(): Promise<void>;
}

export interface OutboundRecord {
  /**
   * Partition and ordering key: the same for every message of a profile in a dataflow, derived from
   * the profile id without revealing it (a hex SHA-256 with the dataflow's id). Kinesis's partition
   * key; Event Hubs hashes it to a partition; HTTP keeps a key's records in order.
   */
  key: string;
  /**
   * The message, as JSON text: the outbox stores each message so, and connectors send these bytes
   * as they are (none parses and re-encodes them).
   */
  json: string;
}

export interface StreamLimits {
  maxBatchRecords: number;
  maxBatchBytes: number;
  maxRecordBytes: number;
  maxConcurrency: number;
}

/** Per-record outcome of a batch: the machinery resends only the failed, retryable ones. */
export interface BatchResult {
  failed: { index: number; retryable: boolean; error: string }[];
}

export interface StreamConnector<Connection, Details> {
  kind: "stream";
  limits: StreamLimits;
  validate(connection: Connection, details: Details, signal?: AbortSignal): Promise<void>;
  open(connection: Connection, details: Details): Promise<StreamSession>;
}

export interface StreamSession {
  /**
   * This session's limits, when its dataflow's details narrow the connector's: the machinery cuts
   * batches at them, so that a batch is one request and `maxConcurrency` requests go at once (HTTP:
   * the dataflow's `batchSize`). The connector's `limits` otherwise.
   */
  limits?: StreamLimits;
  /**
   * Sends one batch within `limits`. Resolves with the per-record failures (empty when all were
   * accepted); rejects with a HeraldError only when the whole batch failed (`unavailable`,
   * `rate_limited`, `auth_failed`, ...).
   */
  sendBatch(records: readonly OutboundRecord[], signal?: AbortSignal): Promise<BatchResult>;
  close(): Promise<void>;
}
