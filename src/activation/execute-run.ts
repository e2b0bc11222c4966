import { Readable } from "node:stream";
import type { Logger } from "pino";
import { readEncryptionKey } from "../crypto/index.ts";
import type { AccountDeps, FileSession } from "../destinations/index.ts";
import { openAccountConnection } from "../destinations/index.ts";
import { HeraldError, isRetryable } from "../errors/index.ts";
import { scrubSecrets } from "../errors/scrub.ts";
import { consentRequirements } from "../governance/index.ts";
import { loadSchema } from "../schema/index.ts";
import { type AudienceQuery, buildAudienceQuery, type MembershipSource } from "./audience-query.ts";
import { type Dataflow, getDataflow } from "./dataflows.ts";
import {
  buildManifest,
  type ExportedFile,
  exportToFiles,
  fileExtension,
  manifestFileName,
  renderFileName,
} from "./export/index.ts";
import type { ExportSlots } from "./export-slots.ts";
import { refuseViolatingDataflow } from "./governance.ts";
import {
  filesOfEarlierRuns,
  finishRun,
  getRun,
  markRunning,
  type Run,
  type RunTrigger,
  recordDeliveredFiles,
  recordExpectedRows,
  recordProgress,
  startRun,
} from "./runs.ts";
import { refuseUnquotableValues } from "./unquoted-values.ts";

/** What activation needs from segmentation, given at wiring time. */
export interface SegmentDirectory {
  memberships: MembershipSource;
  segmentName(sandbox: string, segmentId: string): Promise<string>;
}

export interface ActivationDeps extends AccountDeps {
  segments: SegmentDirectory;
  /** Exports running at once; without, every export starts at once (one-off calls, tests). */
  slots?: ExportSlots;
  /** Where what a run shrugs off goes (a failed clean-up of old temporaries); silent without. */
  logger?: Pick<Logger, "warn">;
  /** Attempts of a segment export when the destination fails transiently (default 6). */
  attempts?: number;
  /** Wait before the second attempt (default 5 s), doubling each time, jittered. */
  backoffMs?: number;
}

/**
 * The default retry window outlasts a destination's restart or failover: 6 attempts with waits of
 * 5, 10, 20, 40 and 80 s, each between half and all of that (`exportRetryDelayMs`), so a
 * destination may be down for 77 s at least, 155 s at most, before the run fails. A scheduled run
 * that fails waits for its next occurrence.
 */
export const EXPORT_ATTEMPTS = 6;
export const EXPORT_BACKOFF_MS = 5000;

/**
 * The wait after `attempt` failed attempts: `backoffMs` × 2^(attempt−1), half of it fixed and half
 * random, so exports failed by one outage do not all come back at the same instant.
 */
export function exportRetryDelayMs(backoffMs: number, attempt: number, random = Math.random): number {
  const exponential = backoffMs * 2 ** (attempt - 1);
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

/** Waits `ms`, or less: a cancel ends the wait at once (the run then stops, no attempt follows). */
function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The message a run records, without the credentials libraries put in URLs and connection strings:
 * a library's error by its message only, and a HeraldError's too, since some quote a library's
 * words (an SFTP server's, an SDK's).
 */
function describe(error: unknown): string {
  return scrubSecrets(error instanceof Error ? error.message : String(error));
}

interface ExclusionCounts {
  received: number;
  /** Excluded by a consent policy of the dataflow's marketing actions (src/governance). */
  consent: number;
  missingMandatory: number;
  duplicates: number;
}

/** The duplicates of a deduplicated audience, one hash partition of its keys at a time. */
async function duplicateCount(deps: ActivationDeps, sandbox: string, query: AudienceQuery, parts: number) {
  let duplicates = 0;
  const { deduplication } = query;
  for (let part = 0; deduplication && part < parts; part++) {
    const sql = deduplication.duplicatesSql(part, parts);
    const [row] = await deps.store.query<{ duplicates: number }>(sandbox, sql, query.params);
    duplicates += Number(row?.duplicates ?? 0);
  }
  return duplicates;
}

/**
 * The rows the export will write, or a bound on them, before writing: the file limit is checked
 * against it. A mapping that excludes nobody needs no join for that: the segment's memberships
 * bound the rows (a membership whose profile is gone is not exported), and only a bound over the
 * file limit is made exact. The counts query is the audience's join again: skipped, it saves a
 * full pass (10 M profiles: 41-43 CPU s instead of 47, docs/benchmarks.md). Likewise the profiles
 * received less those lacking a mandatory column bound a deduplicated audience: its duplicates
 * (a grouping of every key) are counted before only when the bound is over the limit or the
 * format needs the exact rows (Parquet's parts), and otherwise are the bound less the rows written.
 */
async function rowsBeforeExport(
  deps: ActivationDeps,
  sandbox: string,
  query: AudienceQuery,
  fileOptions: Dataflow["fileOptions"],
): Promise<{ rows: number; counts?: ExclusionCounts; duplicatesAfter?: boolean; partitions: number }> {
  const limit =
    fileOptions.maxRowsPerFile === undefined ? Infinity : fileOptions.maxRowsPerFile * fileOptions.maxFiles;
  if (!query.excludes) {
    const [row] = await deps.store.query<{ n: number }>(sandbox, query.membersSql, query.params);
    const bound = Number(row?.n ?? 0);
    if (bound <= limit) return { rows: bound, partitions: 1 };
  }
  const [row] = await deps.store.query<{ received: number; no_consent: number; missing_mandatory: number }>(
    sandbox,
    query.countsSql,
    query.params,
  );
  const received = Number(row?.received ?? 0);
  const consent = Number(row?.no_consent ?? 0);
  const missingMandatory = Number(row?.missing_mandatory ?? 0);
  const bound = received - consent - missingMandatory;
  const partitions = query.deduplication?.partitions(bound, deps.store.memoryBudget) ?? 1;
  if (query.deduplication && bound <= limit && fileOptions.format !== "parquet") {
    return {
      rows: bound,
      counts: { received, consent, missingMandatory, duplicates: 0 },
      duplicatesAfter: true,
      partitions,
    };
  }
  const duplicates = await duplicateCount(deps, sandbox, query, partitions);
  return {
    rows: bound - duplicates,
    counts: { received, consent, missingMandatory, duplicates },
    partitions,
  };
}

async function rowSlots(deps: ActivationDeps, sandbox: string, sql: string): Promise<number> {
  const [row] = await deps.store.query<{ n: number }>(sandbox, sql);
  return Number(row?.n ?? 0);
}

/**
 * Starts one export of one segment of a file dataflow and returns the run at once (a second
 * request while one is in flight is refused here), with `completion` resolving to the finished run.
 * The export counts, writes the files and the manifest, and records the outcome. Transient
 * destination errors retry the whole segment with backoff; file names depend only on the run's
 * scheduled time, so a retry or a rerun rewrites the same files.
 */
export async function beginSegmentExport(
  deps: ActivationDeps,
  sandbox: string,
  input: {
    dataflowId: string;
    segmentId: string;
    trigger: RunTrigger;
    scheduledFor: Date;
    signal?: AbortSignal;
  },
): Promise<{ run: Run; completion: Promise<Run> }> {
  const dataflow = await getDataflow(deps.store, sandbox, input.dataflowId);
  const segment = dataflow.segments.find((s) => s.segmentId === input.segmentId);
  if (!segment)
    throw new HeraldError(
      "not_found",
      "segment_not_in_dataflow",
      `Segment '${input.segmentId}' is not part of dataflow '${dataflow.name}'`,
    );
  const run = await startRun(deps.store, sandbox, {
    ...input,
    queued: deps.slots ? !deps.slots.free() : false,
  });
  return { run, completion: completeSegmentExport(deps, sandbox, dataflow, segment, run, input.signal) };
}

/** Runs one segment export to the end and returns the finished run. */
export async function runSegmentExport(
  deps: ActivationDeps,
  sandbox: string,
  input: {
    dataflowId: string;
    segmentId: string;
    trigger: RunTrigger;
    scheduledFor: Date;
    signal?: AbortSignal;
  },
): Promise<Run> {
  return (await beginSegmentExport(deps, sandbox, input)).completion;
}

async function completeSegmentExport(
  deps: ActivationDeps,
  sandbox: string,
  dataflow: Dataflow,
  segment: Dataflow["segments"][number],
  run: Run,
  signal?: AbortSignal,
): Promise<Run> {
  // Heartbeats (other processes and a restart see the run is alive) and progress write the run's
  // row while the export goes on: one after the other, and all done before the final write, since
  // DuckDB fails one of two concurrent updates of a row (the run would stay "running").
  let rowWrites: Promise<void> = Promise.resolve();
  const write = (work: () => Promise<void>) => {
    rowWrites = rowWrites.then(work).catch(() => {});
  };
  const report: RunReporter = {
    rows: (rows) => write(() => recordProgress(deps.store, sandbox, run.id, rows)),
    expected: (rows) => write(() => recordExpectedRows(deps.store, sandbox, run.id, rows)),
    delivered: (files) => write(() => recordDeliveredFiles(deps.store, sandbox, run.id, files)),
  };
  const heartbeat = setInterval(
    () => write(() => recordProgress(deps.store, sandbox, run.id, 0, false)),
    10_000,
  );
  heartbeat.unref();
  let outcome: Parameters<typeof finishRun>[3];
  // A queued run heartbeats while it waits for its slot, so no pass takes it for abandoned.
  const release = await deps.slots?.acquire();
  try {
    if (run.status === "queued") write(() => markRunning(deps.store, sandbox, run.id));
    outcome = await exportWithRetries(deps, sandbox, dataflow, segment, run, Date.now(), report, signal);
  } finally {
    release?.();
    clearInterval(heartbeat);
    await rowWrites;
  }
  await finishRun(deps.store, sandbox, run.id, outcome);
  if (outcome.status === "succeeded") {
    await deps.store.query(
      sandbox,
      "UPDATE dataflow_segments SET last_success_at = $1 WHERE sandbox = $sandbox AND dataflow_id = $2 AND segment_id = $3",
      [run.startedAt, dataflow.id, segment.segmentId],
    );
  }
  return getRun(deps.store, sandbox, run.id);
}

/**
 * What the export has done so far, kept by the caller so that a failed run still records it: the
 * files delivered under their final names, by name (a retry rewrites the same names), and the
 * audience's counts as far as known (before the export ends, `received` less the exclusions is
 * the rows to write or a bound on them).
 */
interface ExportProgress {
  delivered: Map<string, ExportedFile>;
  counts: ExclusionCounts;
  /** What a successful export says besides its files: the stale files it removed, or failed to. */
  notes: string[];
}

/**
 * What an export reports on its run as it goes: the rows written so far, the rows expected, and
 * the files delivered under their final names so far.
 */
interface RunReporter {
  rows: (rows: number) => void;
  expected: (rows: number) => void;
  delivered: (files: readonly ExportedFile[]) => void;
}

/** Tries the export up to `deps.attempts` times (transient errors only); returns the run's outcome. */
async function exportWithRetries(
  deps: ActivationDeps,
  sandbox: string,
  dataflow: Dataflow,
  segment: Dataflow["segments"][number],
  run: Run,
  started: number,
  report: RunReporter,
  signal?: AbortSignal,
): Promise<Parameters<typeof finishRun>[3]> {
  const progress: ExportProgress = {
    delivered: new Map(),
    counts: { received: 0, consent: 0, missingMandatory: 0, duplicates: 0 },
    notes: [],
  };
  let exported: ExportedFile[] | undefined;
  const errors: string[] = [];
  const attempts = deps.attempts ?? EXPORT_ATTEMPTS;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      signal?.throwIfAborted();
      // A success after retries keeps the earlier attempts' errors: what the destination did.
      exported = await exportOnce(deps, sandbox, dataflow, segment, run, progress, report, signal);
      break;
    } catch (error) {
      // Cancelled, the cause is the canceller's (Ctrl-C), not the stream's "operation was aborted".
      errors.push(`attempt ${attempt}: ${describe(signal?.aborted ? (signal.reason ?? error) : error)}`);
      if (!isRetryable(error) || attempt === attempts || signal?.aborted) break;
      await sleepUnlessAborted(exportRetryDelayMs(deps.backoffMs ?? EXPORT_BACKOFF_MS, attempt), signal);
    }
  }
  // A failed run lists every file it left at the destination, earlier attempts' included; with
  // any, the destination holds part of the audience (complete files, no manifest, which goes
  // last): partially succeeded.
  if (exported) errors.push(...progress.notes);
  const files = exported ?? [...progress.delivered.values()];
  const activated = files.reduce((sum, f) => sum + f.rows, 0);
  const { counts } = progress;
  return {
    status: exported ? "succeeded" : files.length ? "partially_succeeded" : "failed",
    received: counts.received,
    activated,
    excluded: {
      consent: counts.consent,
      missingMandatory: counts.missingMandatory,
      duplicate: counts.duplicates,
    },
    failed: Math.max(
      0,
      counts.received - counts.consent - counts.missingMandatory - counts.duplicates - activated,
    ),
    files,
    errors,
    finishedAt: new Date(Math.max(Date.now(), started)),
  };
}

async function exportOnce(
  deps: ActivationDeps,
  sandbox: string,
  dataflow: Dataflow,
  segment: Dataflow["segments"][number],
  run: Run,
  progress: ExportProgress,
  report: RunReporter,
  signal?: AbortSignal,
): Promise<ExportedFile[]> {
  // A dataflow that violates an enabled policy now (a policy enabled or a label added after it was
  // activated, by a path that could not refuse it) sends nothing: the run fails before reading
  // anything (not retried); a store failing during the check is retried as any transient fault.
  await refuseViolatingDataflow(deps, sandbox, dataflow);
  const { definition, connection, encryptionKey } = await openAccountConnection(
    deps,
    sandbox,
    dataflow.accountId,
  );
  if (definition.connector.kind !== "file") {
    throw new HeraldError(
      "validation",
      "not_a_file_destination",
      `${definition.name} receives records in real time, not files`,
    );
  }
  const schema = await loadSchema(deps.store, sandbox);
  const query = buildAudienceQuery({
    schema,
    dialect: deps.store.dialect,
    mapping: dataflow.mapping,
    memberships: deps.segments.memberships,
    segmentId: segment.segmentId,
    mode: segment.mode,
    ...(segment.mode === "incremental" && segment.lastSuccessAt ? { since: segment.lastSuccessAt } : {}),
    consent: await consentRequirements(deps.store, sandbox, dataflow.marketingActions),
  });
  await refuseUnquotableValues(deps.store, sandbox, query, dataflow.fileOptions);
  const before = await rowsBeforeExport(deps, sandbox, query, dataflow.fileOptions);
  // Without exclusions counted, the rows to write are all the profiles received, as far as known.
  progress.counts = before.counts ?? {
    received: before.rows,
    consent: 0,
    missingMandatory: 0,
    duplicates: 0,
  };
  report.expected(before.rows);
  const plan = query.tableOrder
    ? query.tableOrder.plan(await rowSlots(deps, sandbox, query.tableOrder.rowSlotsSql), {
        partitions: before.partitions,
      })
    : undefined;
  const context = {
    destination: definition.name,
    sandbox,
    dataflowId: dataflow.id,
    dataflowName: dataflow.name,
    segmentId: segment.segmentId,
    segmentName: await deps.segments.segmentName(sandbox, segment.segmentId),
    runId: run.id,
    time: run.scheduledFor,
  };
  // Read before anything is sent: a key expired since it was saved fails the run at once.
  const encryptTo = encryptionKey ? (await readEncryptionKey(encryptionKey)).key : undefined;
  const extension = fileExtension(dataflow.fileOptions, encryptTo !== undefined);
  const session: FileSession = await definition.connector.open(
    connection as never,
    dataflow.details as never,
  );
  try {
    // Leftovers of interrupted uploads are tidied first, at best: a key allowed to write but not to
    // list or abort uploads (enough for the export) must not fail every run.
    await session
      .cleanupTemporaries()
      .catch((error: unknown) =>
        deps.logger?.warn(
          { sandbox, dataflow: dataflow.id, segment: segment.segmentId, err: describe(error) },
          "old temporary files not cleaned up; the export goes on",
        ),
      );
    let lastReport = 0;
    const files = await exportToFiles({
      store: deps.store,
      sandbox,
      query: { ...query, ...(plan ? { plan } : {}) },
      rows: before.rows,
      options: dataflow.fileOptions,
      fileName: (part) => renderFileName(segment.fileNameTemplate, context, part, extension),
      session,
      ...(encryptTo ? { encryptTo } : {}),
      ...(signal ? { signal } : {}),
      onFile: (file) => {
        progress.delivered.set(file.name, file);
        report.delivered([...progress.delivered.values()]);
      },
      onProgress: (rows) => {
        if (Date.now() - lastReport < 1000) return;
        lastReport = Date.now();
        report.rows(rows);
      },
    });
    // Without exclusions, every profile received was written; with a deduplication counted after,
    // every profile of the bound not written was a duplicate.
    const written = files.reduce((sum, f) => sum + f.rows, 0);
    progress.counts = before.counts
      ? {
          ...before.counts,
          duplicates: before.duplicatesAfter ? before.rows - written : before.counts.duplicates,
        }
      : { received: written, consent: 0, missingMandatory: 0, duplicates: 0 };
    if (dataflow.fileOptions.manifest) {
      const manifest = buildManifest(
        { dataflowId: dataflow.id, scheduledAt: run.scheduledFor, segmentId: segment.segmentId },
        files,
      );
      await session.putFile(
        manifestFileName(segment.fileNameTemplate, context),
        Readable.from([Buffer.from(JSON.stringify(manifest, null, 2))]),
      );
    }
    progress.notes = await removeStaleFiles(deps, sandbox, run, files, session);
    return files;
  } finally {
    await session.close();
  }
}

/** Where a delivered file lies, less its name: the folder a session resolved (`/data/out/`, `s3://b/p/`). */
function placeOf(file: ExportedFile): string | undefined {
  return file.location.endsWith(file.name) ? file.location.slice(0, -file.name.length) : undefined;
}

const listed = (files: readonly ExportedFile[]) =>
  `${files.length} file${files.length === 1 ? "" : "s"} of an earlier run for this scheduled time: ${files.map((f) => f.name).join(", ")}`;

/**
 * Once a run has delivered all its files (and its manifest), deletes the files that earlier runs
 * of the same dataflow, segment and scheduled time recorded and this run did not write: a rerun
 * over a shrunk audience writes fewer parts, and a pickup job reading the folder must not find the
 * old `_3`, `_4` with profiles no longer in the segment. Only names Herald recorded for that very
 * time, in the folder this run wrote to (a folder changed since is left alone), are deleted. A
 * failed deletion does not fail the run: it is logged and returned as a note for the run's errors,
 * like those removed.
 */
async function removeStaleFiles(
  deps: ActivationDeps,
  sandbox: string,
  run: Run,
  files: readonly ExportedFile[],
  session: FileSession,
): Promise<string[]> {
  const notes: string[] = [];
  const warn = (note: string, file?: string) => {
    deps.logger?.warn(
      { sandbox, dataflow: run.dataflowId, segment: run.segmentId, run: run.id, ...(file ? { file } : {}) },
      note,
    );
    notes.push(note);
  };
  let earlier: ExportedFile[];
  try {
    earlier = await filesOfEarlierRuns(deps.store, sandbox, run);
  } catch (error) {
    warn(
      `warning: could not look up earlier runs' files for this scheduled time, none removed: ${describe(error)}`,
    );
    return notes;
  }
  const written = new Set(files.map((f) => f.name));
  const places = new Set(files.map(placeOf));
  const stale = earlier.filter(
    (f) => !written.has(f.name) && placeOf(f) !== undefined && places.has(placeOf(f)),
  );
  const removed: ExportedFile[] = [];
  for (const file of stale) {
    try {
      await session.deleteFile(file.name);
      removed.push(file);
    } catch (error) {
      warn(
        `warning: could not remove ${file.name}, written by an earlier run for this scheduled time and not by this one: ${describe(error)}`,
        file.name,
      );
    }
  }
  return removed.length ? [`removed ${listed(removed)}`, ...notes] : notes;
}
