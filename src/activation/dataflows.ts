import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import type { AccountDeps } from "../destinations/index.ts";
import {
  checkNewAccount,
  getAccount,
  type NewAccount,
  newAccountSchema,
  openAccountConnection,
} from "../destinations/index.ts";
import { conflict, type Issue, notFound, parseInput, validationError } from "../errors/index.ts";
import {
  type ActiveDataflows,
  evaluateDataflowPolicies,
  policyViolationError,
  requireKnownMarketingActions,
  type Violation,
} from "../governance/index.ts";
import { loadSchema } from "../schema/index.ts";
import { listStoredSegments } from "../segments/index.ts";
import type { Executor } from "../store/index.ts";
import { segmentIssues } from "./dataflow-segments.ts";
import { fileNameLengthProblem, runFileNames } from "./export/file-names.ts";
import {
  DEFAULT_FILE_NAME_TEMPLATE,
  fileExtension,
  fileOptionsSchema,
  validateFileNameTemplate,
} from "./export/index.ts";
import {
  destinationName,
  type GovernanceDeps,
  governedDataflows,
  refuseViolatingDataflow,
} from "./governance.ts";
import { applyPresets, mappingSchema, resolveMapping } from "./mapping.ts";
import { runsInFlight } from "./runs.ts";
import { endedBy, isRecurring, type Schedule, scheduleSchema } from "./schedule/index.ts";

/**
 * A dataflow: an account, what it is for (marketing actions), the destination's details, the
 * segments with their schedules and file names, the mapping and the file options. Saved as a draft
 * or enabled; edits apply from the next run.
 */
export const dataflowSegmentSchema = z.object({
  segmentId: z.string().min(1),
  schedule: scheduleSchema,
  fileNameTemplate: z.string().min(1).max(255).default(DEFAULT_FILE_NAME_TEMPLATE),
  mode: z.enum(["full", "incremental"]).default("full"),
});

const dataflowStatusSchema = z.enum(["draft", "enabled", "disabled"]);

export const dataflowInputSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(2000).optional(),
    accountId: z
      .string()
      .min(1)
      .optional()
      .describe("the account to deliver with; or `account` to create one"),
    /** The "connect" step creating an account on the way: checked against the service, then saved. */
    account: newAccountSchema.optional(),
    details: z.record(z.string(), z.unknown()).default({}),
    marketingActions: z.array(z.string().min(1).max(100)).default([]),
    segments: z.array(dataflowSegmentSchema).min(1).max(250),
    mapping: mappingSchema,
    fileOptions: fileOptionsSchema.default(fileOptionsSchema.parse({})),
    // No default here: left out, a new dataflow is a draft and an edited one keeps its status.
    status: dataflowStatusSchema
      .optional()
      .describe(
        "draft (for a new dataflow, the default), enabled or disabled; left out of an edit, unchanged",
      ),
  })
  .refine((d) => (d.accountId === undefined) !== (d.account === undefined), {
    path: ["accountId"],
    message: "give either accountId (an account saved before) or account (a new one), not both",
  });

export type DataflowInput = z.input<typeof dataflowInputSchema>;
/** A dataflow as create and update answer: with the policies it violates (a draft may; `enabled` may not). */
export type SavedDataflow = Dataflow & { policyViolations: Violation[] };
export type DataflowSegment = z.infer<typeof dataflowSegmentSchema>;
export type Dataflow = Omit<z.infer<typeof dataflowInputSchema>, "segments" | "status" | "account"> & {
  status: z.infer<typeof dataflowStatusSchema>;
  accountId: string;
  id: string;
  destinationId: string;
  createdAt: Date;
  updatedAt: Date;
  segments: (DataflowSegment & { lastScheduledFor: Date | null; lastSuccessAt: Date | null })[];
};

interface DataflowRow {
  id: string;
  name: string;
  description: string | null;
  account_id: string;
  destination_id: string;
  details: string;
  marketing_actions: string;
  mapping: string;
  file_options: string;
  status: Dataflow["status"];
  created_at: Date;
  updated_at: Date;
}

interface SegmentRow {
  dataflow_id: string;
  segment_id: string;
  schedule: string;
  file_name_template: string;
  export_mode: "full" | "incremental";
  last_scheduled_for: Date | null;
  last_success_at: Date | null;
}

export function parseDataflowInput(input: unknown): z.infer<typeof dataflowInputSchema> {
  const parsed = parseInput(dataflowInputSchema, input, "dataflow");
  const segmentIds = parsed.segments.map((s) => s.segmentId);
  if (new Set(segmentIds).size !== segmentIds.length) {
    throw validationError("segments: a segment appears twice", [
      { field: "segments", message: "duplicate segment" },
    ]);
  }
  const templates = parsed.segments.flatMap((s, i) =>
    validateFileNameTemplate(s.fileNameTemplate, `segments.${i}.fileNameTemplate`),
  );
  refuseIssues([...templates, ...sharedFileNames(parsed.segments), ...incrementalWithoutStatus(parsed)]);
  return parsed;
}

function refuseIssues(issues: Issue[]) {
  if (issues.length) throw validationError(issues.map((i) => i.message).join("; "), issues);
}

/**
 * Schedules set now (new, or changed by an edit) that could never run: a `once` whose time has
 * passed, or an end date behind us. An unchanged schedule that has run its course stays as it is.
 */
function schedulesWithoutRuns(
  segments: readonly DataflowSegment[],
  before: readonly DataflowSegment[],
  now: Date,
): Issue[] {
  return segments.flatMap((s, i) => {
    const previous = before.find((b) => b.segmentId === s.segmentId);
    if (previous && JSON.stringify(previous.schedule) === JSON.stringify(s.schedule)) return [];
    const field = endedBy(s.schedule, now);
    if (!field) return [];
    const path = `segments.${i}.schedule.${field}`;
    return [
      {
        field: path,
        message:
          field === "at"
            ? `${path}: ${now.toISOString()} is past it, so the export would never run; leave "at" out to export as soon as the dataflow is active`
            : `${path}: it has passed, so the schedule has no run left`,
      },
    ];
  });
}

/** A placeholder that tells one segment's files from another's. */
const NAMES_THE_SEGMENT = /%(SEGMENT_ID|SEGMENT_NAME|RUN_ID)%/;

/**
 * Segments of one dataflow sharing a template that names no segment would write the same file
 * names (their schedules can fall at the same time) and overwrite each other's files.
 */
function sharedFileNames(segments: readonly DataflowSegment[]): Issue[] {
  const byTemplate = Map.groupBy(segments.entries(), ([, s]) => s.fileNameTemplate);
  return [...byTemplate].flatMap(([template, users]) =>
    users.length < 2 || NAMES_THE_SEGMENT.test(template)
      ? []
      : users.map(([i]) => ({
          field: `segments.${i}.fileNameTemplate`,
          message: `segments.${i}.fileNameTemplate: '${template}' is used by ${users.length} segments and names none of them, so their files would overwrite each other; add %SEGMENT_ID% or %SEGMENT_NAME%`,
        })),
  );
}

/**
 * The names each segment's run would write, rendered as a run would with the dataflow's and the
 * segments' current names and ids (a new dataflow's id and every run id stand in as 36 characters,
 * the length of a UUID), at one time for all, since schedules can meet:
 * - a template whose longest name (its manifest, or its part 1000) is over 255 UTF-8 bytes, which
 *   every run would refuse;
 * - two segments that would write a same name (any part, or the manifest), compared regardless of
 *   case since SMB, Windows and macOS shares do: one segment's file would replace the other's.
 */
async function renderedFileNameIssues(
  db: Executor,
  sandbox: string,
  input: z.infer<typeof dataflowInputSchema>,
  destination: string,
  encrypted: boolean,
  dataflowId: string | undefined,
  now: Date,
): Promise<Issue[]> {
  const names = new Map((await listStoredSegments(db, sandbox)).map((s) => [s.id, s.name]));
  const extension = fileExtension(input.fileOptions, encrypted);
  const issues: Issue[] = [];
  const writers = new Map<string, number>();
  for (const [i, s] of input.segments.entries()) {
    const field = `segments.${i}.fileNameTemplate`;
    const context = {
      destination,
      sandbox,
      dataflowId: dataflowId ?? "d".repeat(36),
      dataflowName: input.name,
      segmentId: s.segmentId,
      segmentName: names.get(s.segmentId) ?? s.segmentId,
      runId: `run${i}`.padEnd(36, "r"),
      time: now,
    };
    const tooLong = fileNameLengthProblem(s.fileNameTemplate, context, extension);
    if (tooLong) {
      issues.push({ field, message: `${field}: ${tooLong}` });
      continue;
    }
    const own = runFileNames(s.fileNameTemplate, context, extension, input.fileOptions);
    const clash = own.find((name) => writers.has(name.toLowerCase()));
    if (clash !== undefined) {
      const j = writers.get(clash.toLowerCase()) as number;
      const other = input.segments[j] as DataflowSegment;
      const who = (k: number, id: string) => `segments.${k} ('${names.get(id) ?? id}')`;
      issues.push({
        field,
        message: `${field}: ${who(i, s.segmentId)} and ${who(j, other.segmentId)} would both write '${clash}' (names are compared regardless of case), so one's file would replace the other's at the destination; tell them apart with %SEGMENT_ID%`,
      });
    }
    for (const name of own) if (!writers.has(name.toLowerCase())) writers.set(name.toLowerCase(), i);
  }
  return issues;
}

/** An incremental file lists entries and exits alike: without the status column they look the same. */
function incrementalWithoutStatus(dataflow: z.infer<typeof dataflowInputSchema>): Issue[] {
  const hasStatus = dataflow.mapping.columns.some(
    (c) => c.source.kind === "membership" && c.source.field === "status",
  );
  if (hasStatus) return [];
  return dataflow.segments.flatMap((s, i) =>
    s.mode === "incremental"
      ? [
          {
            field: `segments.${i}.mode`,
            message: `segments.${i}.mode: an incremental export needs the membership status in the mapping (add {"source": {"kind": "membership", "field": "status"}}), or its exits would read as entries`,
          },
        ]
      : [],
  );
}

async function loadSegments(
  db: Executor,
  sandbox: string,
  ids: string[],
): Promise<Map<string, SegmentRow[]>> {
  const rows = await db.query<SegmentRow>(
    sandbox,
    "SELECT * FROM dataflow_segments WHERE sandbox = $sandbox ORDER BY segment_id",
  );
  const wanted = new Set(ids);
  const byDataflow = new Map<string, SegmentRow[]>();
  for (const row of rows.filter((r) => wanted.has(r.dataflow_id))) {
    byDataflow.set(row.dataflow_id, [...(byDataflow.get(row.dataflow_id) ?? []), row]);
  }
  return byDataflow;
}

function toDataflow(row: DataflowRow, segments: SegmentRow[]): Dataflow {
  return {
    id: row.id,
    name: row.name,
    ...(row.description ? { description: row.description } : {}),
    accountId: row.account_id,
    destinationId: row.destination_id,
    details: JSON.parse(row.details) as Record<string, unknown>,
    marketingActions: JSON.parse(row.marketing_actions) as string[],
    mapping: JSON.parse(row.mapping) as Dataflow["mapping"],
    fileOptions: JSON.parse(row.file_options) as Dataflow["fileOptions"],
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    segments: segments.map((s) => ({
      segmentId: s.segment_id,
      schedule: JSON.parse(s.schedule) as Schedule,
      fileNameTemplate: s.file_name_template,
      mode: s.export_mode,
      lastScheduledFor: s.last_scheduled_for,
      lastSuccessAt: s.last_success_at,
    })),
  };
}

export async function getDataflow(db: Executor, sandbox: string, id: string): Promise<Dataflow> {
  const [row] = await db.query<DataflowRow>(
    sandbox,
    "SELECT * FROM dataflows WHERE sandbox = $sandbox AND id = $1",
    [id],
  );
  if (!row) throw notFound("dataflow", id);
  return toDataflow(row, (await loadSegments(db, sandbox, [id])).get(id) ?? []);
}

export async function listDataflows(
  db: Executor,
  sandbox: string,
  filter: { accountId?: string } = {},
): Promise<Dataflow[]> {
  const rows = await db.query<DataflowRow>(
    sandbox,
    "SELECT * FROM dataflows WHERE sandbox = $sandbox AND ($1::TEXT IS NULL OR account_id = $1) ORDER BY name, id",
    [filter.accountId ?? null],
  );
  const segments = await loadSegments(
    db,
    sandbox,
    rows.map((r) => r.id),
  );
  return rows.map((r) => toDataflow(r, segments.get(r.id) ?? []));
}

/**
 * Checks the parts that live elsewhere: the account exists (or, given inline, its destination
 * does) and the details, schedules and mapping fit its destination; last, the details are tried
 * against the service with the account's connection. An inline account is checked on the way but
 * saved only by `saveAccount`, once everything else holds: a refused dataflow leaves no account.
 */
async function checkReferences(
  deps: AccountDeps,
  sandbox: string,
  input: z.infer<typeof dataflowInputSchema>,
  saved?: Pick<Dataflow, "id" | "accountId" | "details">,
  now = new Date(),
) {
  const existing = input.accountId ? await getAccount(deps, sandbox, input.accountId) : undefined;
  const inline = input.account as NewAccount;
  const definition = deps.catalog.get(existing?.destinationId ?? inline.destination);
  const details = parseInput(
    definition.detailsSchema,
    input.details,
    `details for ${definition.name}`,
    (path) => ["details", ...path.map(String)].join("."),
  );
  // Files go out on a clock, messages as memberships change: a schedule the destination cannot
  // run is refused here rather than failing (and retrying) at every run or message.
  const streams = definition.connector.kind === "stream";
  const misfits = input.segments.flatMap((s, i) =>
    (s.schedule.frequency === "streaming") === streams
      ? []
      : [
          {
            field: `segments.${i}.schedule.frequency`,
            message: streams
              ? `segments.${i}.schedule.frequency: ${definition.name} is a streaming destination; its segments take the schedule "streaming"`
              : `segments.${i}.schedule.frequency: "streaming" needs a streaming destination (${definition.name} receives files on a schedule)`,
          },
        ],
  );
  if (misfits.length) throw validationError(misfits.map((m) => m.message).join("; "), misfits);
  refuseIssues(await segmentIssues(deps.store, sandbox, input.segments));
  if (!streams)
    refuseIssues(
      await renderedFileNameIssues(
        deps.store,
        sandbox,
        input,
        definition.name,
        existing ? existing.encryption !== null : inline.encryptionKey !== undefined,
        saved?.id,
        now,
      ),
    );
  // The mapping is checked against the schema now, not at the first export.
  const schema = await loadSchema(deps.store, sandbox);
  const mapping = applyPresets(input.mapping, definition.presets, definition.name, schema);
  resolveMapping(mapping, schema, deps.store.dialect);
  const account = existing
    ? {
        connection: (await openAccountConnection(deps, sandbox, existing.id)).connection,
        // An edit keeping the account and details tried when saved needs no new try (a rename
        // while the destination is down still goes through).
        details: saved?.accountId === existing.id ? saved.details : undefined,
        save: async () => existing,
      }
    : await checkNewAccount(deps, sandbox, {
        destinationId: definition.id,
        name: inline.name,
        connection: inline.connection,
        details: inline.details,
        recordsPerSecond: inline.recordsPerSecond,
        encryptionKey: inline.encryptionKey,
      });
  // A typo'd bucket, folder or stream is refused now, naming it, rather than at the first run (or
  // in the dead letters). A new account checked with these very details needs no second try.
  if (!isDeepStrictEqual(account.details, details))
    await definition.connector.validate(account.connection as never, details as never);
  return {
    saveAccount: account.save,
    definition,
    details: details as Record<string, unknown>,
    mapping,
    destination: destinationName(existing?.name ?? inline.name, definition.name),
  };
}

/**
 * Where a segment's schedule counts from (its `last_scheduled_for`). A recurring schedule that
 * starts now (a new segment or schedule, or its dataflow being enabled) counts from now, so its
 * first run is its next occurrence: not one that passed while the dataflow was a draft or paused,
 * or before the schedule was set. Any other schedule set anew (a `once`) starts with no progress,
 * so it runs even where the schedule it replaced had run. Otherwise the schedule's progress is
 * kept, so an occurrence missed while Herald was down still runs once.
 */
function scheduledFrom(
  segment: DataflowSegment,
  before: SegmentRow | undefined,
  enabling: boolean,
  now: Date,
): Date | null {
  const setAnew = before?.schedule !== JSON.stringify(segment.schedule);
  if (isRecurring(segment.schedule)) return setAnew || enabling ? now : (before?.last_scheduled_for ?? null);
  return setAnew ? null : (before?.last_scheduled_for ?? null);
}

async function writeSegments(
  db: Executor,
  sandbox: string,
  dataflowId: string,
  segments: DataflowSegment[],
  schedulesFrom: { now: Date; enabling?: boolean; previous?: SegmentRow[] },
) {
  await db.query(sandbox, "DELETE FROM dataflow_segments WHERE sandbox = $sandbox AND dataflow_id = $1", [
    dataflowId,
  ]);
  for (const s of segments) {
    // Keep the schedule's progress and the incremental watermark across edits.
    const before = schedulesFrom.previous?.find((p) => p.segment_id === s.segmentId);
    await db.query(
      sandbox,
      `INSERT INTO dataflow_segments (dataflow_id, sandbox, segment_id, schedule, file_name_template, export_mode, last_scheduled_for, last_success_at)
       VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7)`,
      [
        dataflowId,
        s.segmentId,
        JSON.stringify(s.schedule),
        s.fileNameTemplate,
        s.mode,
        scheduledFrom(s, before, schedulesFrom.enabling ?? false, schedulesFrom.now),
        before?.last_success_at ?? null,
      ],
    );
  }
}

/**
 * The definition's violations of the sandbox's enabled policies, once its references hold: an
 * enabled dataflow that has any is refused (409 policy_violation) before anything is saved; a
 * draft or a paused one is saved, its answer naming them.
 */
async function policyCheck(
  deps: AccountDeps,
  sandbox: string,
  parsed: z.infer<typeof dataflowInputSchema>,
  checked: { mapping: Dataflow["mapping"]; destination: string },
  status: Dataflow["status"],
): Promise<Violation[]> {
  const violations = await evaluateDataflowPolicies(deps.store, sandbox, {
    ...parsed,
    mapping: checked.mapping,
    destinationName: checked.destination,
  });
  if (status === "enabled" && violations.length) throw policyViolationError(violations);
  return violations;
}

export async function createDataflow(
  deps: AccountDeps,
  sandbox: string,
  input: unknown,
  now = new Date(),
): Promise<SavedDataflow> {
  const parsed = parseDataflowInput(input);
  await requireKnownMarketingActions(deps.store, sandbox, parsed.marketingActions);
  refuseIssues(schedulesWithoutRuns(parsed.segments, [], now));
  const checked = await checkReferences(deps, sandbox, parsed, undefined, now);
  const { saveAccount, details, mapping } = checked;
  const policyViolations = await policyCheck(deps, sandbox, parsed, checked, parsed.status ?? "draft");
  const account = await saveAccount();
  const id = randomUUID();
  await deps.store.transaction(async (tx) => {
    await tx.query(
      sandbox,
      `INSERT INTO dataflows (id, sandbox, name, description, account_id, destination_id, details, marketing_actions, mapping, file_options, status, created_at, updated_at)
       VALUES ($1, $sandbox, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
      [
        id,
        parsed.name,
        parsed.description ?? null,
        account.id,
        account.destinationId,
        JSON.stringify(details),
        JSON.stringify(parsed.marketingActions),
        JSON.stringify(mapping),
        JSON.stringify(parsed.fileOptions),
        parsed.status ?? "draft",
        now,
      ],
    );
    // Every schedule of a new dataflow counts from its creation.
    await writeSegments(tx, sandbox, id, parsed.segments, { now });
  });
  return { ...(await getDataflow(deps.store, sandbox, id)), policyViolations };
}

export async function updateDataflow(
  deps: AccountDeps,
  sandbox: string,
  id: string,
  input: unknown,
  now = new Date(),
): Promise<SavedDataflow> {
  const existing = await getDataflow(deps.store, sandbox, id);
  const parsed = parseDataflowInput(input);
  await requireKnownMarketingActions(deps.store, sandbox, parsed.marketingActions);
  refuseIssues(schedulesWithoutRuns(parsed.segments, existing.segments, now));
  const checked = await checkReferences(deps, sandbox, parsed, existing, now);
  const { saveAccount, details, mapping } = checked;
  const status = parsed.status ?? existing.status;
  const policyViolations = await policyCheck(deps, sandbox, parsed, checked, status);
  const account = await saveAccount();
  await deps.store.transaction(async (tx) => {
    const previous = (await loadSegments(tx, sandbox, [id])).get(id) ?? [];
    await tx.query(
      sandbox,
      `UPDATE dataflows SET name = $1, description = $2, account_id = $3, destination_id = $4, details = $5, marketing_actions = $6,
         mapping = $7, file_options = $8, status = $9, updated_at = $10 WHERE sandbox = $sandbox AND id = $11`,
      [
        parsed.name,
        parsed.description ?? null,
        account.id,
        account.destinationId,
        JSON.stringify(details),
        JSON.stringify(parsed.marketingActions),
        JSON.stringify(mapping),
        JSON.stringify(parsed.fileOptions),
        status,
        now,
        existing.id,
      ],
    );
    const enabling = status === "enabled" && existing.status !== "enabled";
    await writeSegments(tx, sandbox, id, parsed.segments, { now, enabling, previous });
  });
  return { ...(await getDataflow(deps.store, sandbox, id)), policyViolations };
}

/**
 * Activates, pauses or resumes a dataflow; enabled, its recurring schedules count from `now`.
 * Activating or resuming one that violates an enabled policy is refused (409 policy_violation).
 */
export async function setDataflowStatus(
  db: Executor,
  sandbox: string,
  id: string,
  status: Dataflow["status"],
  now = new Date(),
  /** Names the destination in a violation's lineage (the account's name alone without it). */
  catalog?: GovernanceDeps["catalog"],
): Promise<void> {
  const dataflow = await getDataflow(db, sandbox, id);
  if (status === "enabled") await refuseViolatingDataflow({ store: db, catalog }, sandbox, dataflow);
  const enabling = status === "enabled" && dataflow.status !== "enabled";
  const restarted = dataflow.segments.filter((s) => enabling && isRecurring(s.schedule));
  await db.writeAll(sandbox, [
    {
      sql: "UPDATE dataflows SET status = $1, updated_at = $2 WHERE sandbox = $sandbox AND id = $3",
      params: [status, now, id],
    },
    {
      sql: `UPDATE dataflow_segments SET last_scheduled_for = $1
            WHERE sandbox = $sandbox AND dataflow_id = $2 AND segment_id = ANY(CAST($3 AS TEXT[]))`,
      params: [now, id, restarted.map((s) => s.segmentId)],
    },
  ]);
}

/**
 * Deletes a dataflow; refused while one of its runs is in flight, which would otherwise go on
 * delivering files for a dataflow that no longer exists. Its run history stays.
 */
export async function deleteDataflow(db: Executor, sandbox: string, id: string): Promise<void> {
  await getDataflow(db, sandbox, id);
  const [running] = await runsInFlight(db, sandbox, id);
  if (running) {
    throw conflict(
      "run_in_progress",
      `Dataflow '${id}' has an export in flight (run ${running.id}); delete it once the run has ended (pause the dataflow meanwhile to start no other)`,
    );
  }
  await db.query(sandbox, "DELETE FROM dataflow_segments WHERE sandbox = $sandbox AND dataflow_id = $1", [
    id,
  ]);
  await db.query(sandbox, "DELETE FROM dataflows WHERE sandbox = $sandbox AND id = $1", [id]);
}

/** Names of dataflows using an account: accounts refuse deletion while this is not empty. */
export async function dataflowsUsingAccount(
  db: Executor,
  sandbox: string,
  accountId: string,
): Promise<string[]> {
  return (await listDataflows(db, sandbox, { accountId })).map((d) => d.name);
}

/**
 * The sandbox's active (enabled) dataflows as governance reads them: what later edits (policies,
 * field labels, segment rules) are checked against.
 */
export function activeDataflowsFor(catalog: GovernanceDeps["catalog"]): ActiveDataflows {
  return async (db, sandbox) => {
    const active = (await listDataflows(db, sandbox)).filter((d) => d.status === "enabled");
    return governedDataflows({ store: db, catalog }, sandbox, active);
  };
}
