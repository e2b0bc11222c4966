import { randomUUID } from "node:crypto";
import { conflict, notFound } from "../errors/index.ts";
import type { Executor, Store } from "../store/index.ts";
import type { ExportedFile } from "./export/index.ts";

export type RunStatus = "queued" | "running" | "succeeded" | "partially_succeeded" | "failed";
export type RunTrigger = "schedule" | "manual" | "evaluation" | "catch_up";

export interface Run {
  id: string;
  dataflowId: string;
  segmentId: string;
  trigger: RunTrigger;
  scheduledFor: Date;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
  received: number;
  activated: number;
  excluded: Record<string, number>;
  failed: number;
  bytes: number;
  files: ExportedFile[];
  errors: string[];
  progressRows: number;
  /** The rows the run expects to write (its audience, or a bound on it), once known: the progress's total. */
  expectedRows: number | null;
}

interface RunRow {
  id: string;
  dataflow_id: string;
  segment_id: string;
  run_trigger: RunTrigger;
  scheduled_for: Date;
  status: RunStatus;
  started_at: Date;
  finished_at: Date | null;
  received: number;
  activated: number;
  excluded: string;
  failed: number;
  bytes: number;
  files: string;
  errors: string;
  progress_rows: number;
  expected_rows: number | null;
}

function toRun(row: RunRow): Run {
  return {
    id: row.id,
    dataflowId: row.dataflow_id,
    segmentId: row.segment_id,
    trigger: row.run_trigger,
    scheduledFor: row.scheduled_for,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.finished_at ? row.finished_at.getTime() - row.started_at.getTime() : null,
    received: Number(row.received),
    activated: Number(row.activated),
    excluded: JSON.parse(row.excluded) as Record<string, number>,
    failed: Number(row.failed),
    bytes: Number(row.bytes),
    files: JSON.parse(row.files) as ExportedFile[],
    errors: JSON.parse(row.errors) as string[],
    progressRows: Number(row.progress_rows),
    expectedRows: row.expected_rows === null ? null : Number(row.expected_rows),
  };
}

/**
 * Starts a run unless one of the same dataflow and segment is already in flight: a dataflow never
 * runs twice at once. On PostgreSQL the dataflow's row is locked for the check, so two Herald
 * processes cannot both start it; on DuckDB transactions are serialised in-process.
 */
/** A dataflow's runs in flight (queued or running): its segments export one run at a time. */
export async function runsInFlight(
  db: Executor,
  sandbox: string,
  dataflowId: string,
): Promise<{ id: string; segmentId: string }[]> {
  const rows = await db.query<{ id: string; segment_id: string }>(
    sandbox,
    "SELECT id, segment_id FROM runs WHERE sandbox = $sandbox AND dataflow_id = $1 AND status IN ('queued', 'running') ORDER BY id",
    [dataflowId],
  );
  return rows.map((r) => ({ id: r.id, segmentId: r.segment_id }));
}

export async function startRun(
  store: Store,
  sandbox: string,
  input: {
    dataflowId: string;
    segmentId: string;
    trigger: RunTrigger;
    scheduledFor: Date;
    now?: Date;
    /** Waiting for an export slot (export-slots.ts): `queued` until it starts. */
    queued?: boolean;
  },
): Promise<Run> {
  const now = input.now ?? new Date();
  const id = randomUUID();
  await store.transaction(async (tx) => {
    const lock = store.engine === "postgres" ? " FOR UPDATE" : "";
    const [segment] = await tx.query(
      sandbox,
      `SELECT dataflow_id FROM dataflow_segments WHERE sandbox = $sandbox AND dataflow_id = $1 AND segment_id = $2${lock}`,
      [input.dataflowId, input.segmentId],
    );
    if (!segment) throw notFound("dataflow segment", `${input.dataflowId}/${input.segmentId}`);
    const running = (await runsInFlight(tx, sandbox, input.dataflowId)).filter(
      (r) => r.segmentId === input.segmentId,
    );
    if (running.length) {
      throw conflict(
        "run_in_progress",
        `An export of this segment is already running (run ${running[0]?.id}); wait for it to finish`,
      );
    }
    await tx.query(
      sandbox,
      `INSERT INTO runs (id, sandbox, dataflow_id, segment_id, run_trigger, scheduled_for, status, started_at, heartbeat_at)
       VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7, $7)`,
      [
        id,
        input.dataflowId,
        input.segmentId,
        input.trigger,
        input.scheduledFor,
        input.queued ? "queued" : "running",
        now,
      ],
    );
  });
  return getRun(store, sandbox, id);
}

/** A queued run's export starts: from now on its duration counts. */
export async function markRunning(db: Executor, sandbox: string, runId: string) {
  await db.query(
    sandbox,
    "UPDATE runs SET status = 'running', started_at = $1, heartbeat_at = $1 WHERE sandbox = $sandbox AND id = $2 AND status = 'queued'",
    [new Date(), runId],
  );
}

/** Records the rows a run expects to write, once its audience is counted. */
export async function recordExpectedRows(db: Executor, sandbox: string, runId: string, rows: number) {
  await db.query(sandbox, "UPDATE runs SET expected_rows = $1 WHERE sandbox = $sandbox AND id = $2", [
    rows,
    runId,
  ]);
}

/** Records rows written so far (or, with `withRows` false, only that the run is alive). */
export async function recordProgress(
  db: Executor,
  sandbox: string,
  runId: string,
  rows: number,
  withRows = true,
): Promise<void> {
  if (!withRows) {
    await db.query(sandbox, "UPDATE runs SET heartbeat_at = $1 WHERE sandbox = $sandbox AND id = $2", [
      new Date(),
      runId,
    ]);
    return;
  }
  await db.query(
    sandbox,
    "UPDATE runs SET progress_rows = $1, heartbeat_at = $2 WHERE sandbox = $sandbox AND id = $3",
    [rows, new Date(), runId],
  );
}

/**
 * Records the files a run has delivered under their final names so far (a retry rewrites the same
 * names): should its process die, the run still tells what reached the destination.
 */
export async function recordDeliveredFiles(
  db: Executor,
  sandbox: string,
  runId: string,
  files: readonly ExportedFile[],
): Promise<void> {
  await db.query(sandbox, "UPDATE runs SET files = $1, bytes = $2 WHERE sandbox = $sandbox AND id = $3", [
    JSON.stringify(files),
    files.reduce((sum, f) => sum + f.bytes, 0),
    runId,
  ]);
}

/**
 * The files that other runs of this dataflow's segment recorded for the same scheduled time (a
 * first run, reruns, failed attempts' deliveries), each name once: the names a rerun may find at
 * the destination from before. Most runs are the first of their time and get none.
 */
export async function filesOfEarlierRuns(
  db: Executor,
  sandbox: string,
  run: Pick<Run, "id" | "dataflowId" | "segmentId" | "scheduledFor">,
): Promise<ExportedFile[]> {
  const rows = await db.query<{ files: string }>(
    sandbox,
    `SELECT files FROM runs WHERE sandbox = $sandbox AND dataflow_id = $1 AND segment_id = $2
       AND scheduled_for = $3 AND id <> $4 ORDER BY started_at, id`,
    [run.dataflowId, run.segmentId, run.scheduledFor, run.id],
  );
  const byName = new Map<string, ExportedFile>();
  for (const row of rows) {
    for (const file of JSON.parse(row.files) as ExportedFile[]) byName.set(file.name, file);
  }
  return [...byName.values()];
}

export async function finishRun(
  db: Executor,
  sandbox: string,
  runId: string,
  outcome: {
    status: Exclude<RunStatus, "queued" | "running">;
    received: number;
    activated: number;
    excluded: Record<string, number>;
    failed: number;
    files: ExportedFile[];
    errors: string[];
    finishedAt?: Date;
  },
): Promise<void> {
  await db.query(
    sandbox,
    `UPDATE runs SET status = $1, received = $2, activated = $3, excluded = $4, failed = $5, files = $6, errors = $7,
       bytes = $8, finished_at = $9, heartbeat_at = $9 WHERE sandbox = $sandbox AND id = $10`,
    [
      outcome.status,
      outcome.received,
      outcome.activated,
      JSON.stringify(outcome.excluded),
      outcome.failed,
      JSON.stringify(outcome.files),
      JSON.stringify(outcome.errors),
      outcome.files.reduce((sum, f) => sum + f.bytes, 0),
      outcome.finishedAt ?? new Date(),
      runId,
    ],
  );
}

export async function getRun(db: Executor, sandbox: string, id: string): Promise<Run> {
  const [row] = await db.query<RunRow>(sandbox, "SELECT * FROM runs WHERE sandbox = $sandbox AND id = $1", [
    id,
  ]);
  if (!row) throw notFound("run", id);
  return toRun(row);
}

export async function listRuns(
  db: Executor,
  sandbox: string,
  filter: { dataflowId?: string; status?: RunStatus; since?: Date; until?: Date; limit?: number } = {},
): Promise<Run[]> {
  const rows = await db.query<RunRow>(
    sandbox,
    `SELECT * FROM runs WHERE sandbox = $sandbox
       AND ($1::TEXT IS NULL OR dataflow_id = $1) AND ($2::TEXT IS NULL OR status = $2)
       AND ($3::TIMESTAMPTZ IS NULL OR started_at >= $3) AND ($4::TIMESTAMPTZ IS NULL OR started_at < $4)
     ORDER BY started_at DESC, id LIMIT $5`,
    [
      filter.dataflowId ?? null,
      filter.status ?? null,
      filter.since ?? null,
      filter.until ?? null,
      filter.limit ?? 100,
    ],
  );
  return rows.map(toRun);
}

/**
 * Runs left `running` by a process that stopped (no heartbeat for `staleAfterMs`) are closed with
 * that cause, so they show up honestly and the next run of their segment can start: `failed`, or
 * `partially_succeeded` when files it delivered already lie at the destination (complete files
 * under their final names, without the manifest, which goes last), named in the cause.
 */
export async function failAbandonedRuns(
  db: Executor,
  sandbox: string,
  staleAfterMs: number,
  now = new Date(),
): Promise<string[]> {
  const staleBefore = new Date(now.getTime() - staleAfterMs);
  const rows = await db.query<{ id: string; heartbeat_at: Date; files: string }>(
    sandbox,
    "SELECT id, heartbeat_at, files FROM runs WHERE sandbox = $sandbox AND status IN ('queued', 'running') AND heartbeat_at < $1",
    [staleBefore],
  );
  const failed: string[] = [];
  for (const { id, heartbeat_at: heartbeat, files: filesJson } of rows) {
    const files = JSON.parse(filesJson) as ExportedFile[];
    const stopped = `The Herald process running this export stopped (its heartbeat stopped at ${heartbeat.toISOString()})`;
    const cause = files.length
      ? `${stopped} after delivering ${files.length} file${files.length > 1 ? "s" : ""} (${files.map((f) => f.name).join(", ")}): they hold part of the audience, with no manifest; the file it was writing was not made visible`
      : `${stopped}; no partial file was made visible`;
    // Checked again: a run whose heartbeat came in since the SELECT is alive and left alone.
    const updated = await db.query(
      sandbox,
      `UPDATE runs SET status = $1, activated = $2, finished_at = $3, errors = $4
       WHERE sandbox = $sandbox AND id = $5 AND status IN ('queued', 'running') AND heartbeat_at < $6 RETURNING id`,
      [
        files.length ? "partially_succeeded" : "failed",
        files.reduce((sum, f) => sum + f.rows, 0),
        now,
        JSON.stringify([cause]),
        id,
        staleBefore,
      ],
    );
    if (updated.length) failed.push(id);
  }
  return failed;
}
