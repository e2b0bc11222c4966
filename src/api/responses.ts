/**
 * The shapes of the API's main answers, for the OpenAPI document. They describe the domain types
 * as JSON (dates as ISO strings) and reuse the parts' zod schemas where those exist (the segment
 * AST, a dataflow's mapping, schedules and file options). Documentation only: answers are written
 * with JSON.stringify (src/api/server.ts), so a field missing here is never dropped from an answer;
 * test/api/openapi.test.ts checks that real answers parse to themselves, field for field.
 */
import { z } from "zod";
import { dataflowInputSchema } from "../activation/index.ts";
import { labelExpressionSchema } from "../governance/index.ts";
import { segmentAstSchema } from "../segments/index.ts";

const isoTime = z.string().describe("ISO 8601 time (UTC)");

const segmentFields = {
  id: z.string(),
  sandbox: z.string(),
  name: z.string(),
  description: z.string().optional(),
  definition: z.string().describe("The text as written; for segments saved as an AST, its canonical text"),
  createdAt: isoTime,
  updatedAt: isoTime,
  lastEvaluatedAt: isoTime.optional(),
};

export const segmentResponse = z.object({
  ...segmentFields,
  ast: segmentAstSchema,
  streaming: z.union([
    z.object({ eligible: z.literal(true) }),
    z.object({ eligible: z.literal(false), reason: z.string() }),
  ]),
});

export const savedSegmentResponse = segmentResponse.extend({
  warnings: z.array(z.string()).describe("event types the segment reads that the sandbox has never stored"),
});

const invalidSegmentResponse = z.object({
  ...segmentFields,
  invalid: z.string().describe("why the stored definition cannot be evaluated"),
});

export const storedSegmentResponse = z.union([segmentResponse, invalidSegmentResponse]);

export const segmentListResponse = z.object({ items: z.array(storedSegmentResponse) });

export const segmentEstimateResponse = z.object({
  estimate: z.number().describe("estimated audience size (exact when `sampled` is false)"),
  low: z.number().describe("95% interval, low end"),
  high: z.number().describe("95% interval, high end"),
  sampled: z.boolean(),
  sampleFraction: z.number().describe("share of profiles read (1 when exact)"),
  totalProfiles: z.number(),
  durationMs: z.number(),
  warnings: z.array(z.string()),
});

export const accountResponse = z.object({
  id: z.string(),
  destinationId: z.string(),
  name: z.string(),
  connection: z.record(z.string(), z.unknown()).describe("the connection fields, secrets left out"),
  secretsSet: z.array(z.string()).describe("the secret fields that are set (never their values)"),
  validationDetails: z.record(z.string(), z.unknown()),
  recordsPerSecond: z.number().nullable(),
  encryption: z
    .object({
      fingerprint: z.string(),
      algorithm: z.string(),
      userIds: z.array(z.string()),
      expiresAt: isoTime.nullable(),
    })
    .nullable()
    .describe(
      "the OpenPGP public key the account's files are encrypted to (`.gpg` appended to their names), or null",
    ),
  createdAt: isoTime,
  updatedAt: isoTime,
  validatedAt: isoTime.nullable(),
});

export const accountListResponse = z.object({ items: z.array(accountResponse) });

const dataflowInput = dataflowInputSchema.shape;

export const dataflowResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  accountId: z.string(),
  destinationId: z.string(),
  details: z.record(z.string(), z.unknown()),
  marketingActions: z.array(z.string()),
  segments: z.array(
    dataflowInput.segments.element.extend({
      lastScheduledFor: isoTime.nullable(),
      lastSuccessAt: isoTime.nullable(),
    }),
  ),
  mapping: dataflowInput.mapping,
  fileOptions: dataflowInput.fileOptions.unwrap(),
  status: z.enum(["draft", "enabled", "disabled"]),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const dataflowListResponse = z.object({ items: z.array(dataflowResponse) });

/** A policy a dataflow violates, with where the labels come from and what would resolve it. */
export const violationResponse = z.object({
  policy: z.object({ id: z.string(), name: z.string() }),
  marketingAction: z.string(),
  expression: z.string().describe("the policy's label expression in words: C2 OR C12"),
  labels: z.array(z.string()).describe("the labels in play that made the expression hold"),
  lineage: z.array(
    z.object({
      label: z.string(),
      field: z.string(),
      entity: z.enum(["profile", "event"]),
      usedBy: z.enum(["segment", "mapping"]),
      segment: z.object({ id: z.string(), name: z.string() }).optional(),
      column: z.string().optional(),
      dataflow: z.string(),
      destination: z.string().optional(),
    }),
  ),
  suggestions: z.array(z.string()),
  message: z.string(),
});

export const savedDataflowResponse = dataflowResponse.extend({
  policyViolations: z
    .array(violationResponse)
    .describe("enabled policies the dataflow violates: empty for an enabled one (refused otherwise)"),
});

export const policyCheckResponse = z.object({ violations: z.array(violationResponse) });

export const labelResponse = z.object({
  name: z.string(),
  category: z.enum(["contract", "identity", "sensitive", "custom"]),
  description: z.string(),
  core: z.boolean(),
});

export const marketingActionResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  core: z.boolean(),
});

export const policyResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  marketingAction: z.string().describe("the action's id"),
  expression: labelExpressionSchema,
  status: z.enum(["draft", "enabled", "disabled"]),
  core: z.boolean(),
  createdAt: isoTime,
  updatedAt: isoTime,
});

export const runResponse = z.object({
  id: z.string(),
  dataflowId: z.string(),
  segmentId: z.string(),
  trigger: z.enum(["schedule", "manual", "evaluation", "catch_up"]),
  scheduledFor: isoTime,
  status: z.enum(["queued", "running", "succeeded", "partially_succeeded", "failed"]),
  startedAt: isoTime,
  finishedAt: isoTime.nullable(),
  durationMs: z.number().nullable(),
  received: z.number(),
  activated: z.number(),
  excluded: z.record(z.string(), z.number()).describe("profiles left out, by reason"),
  failed: z.number(),
  bytes: z.number(),
  files: z.array(
    z.object({
      name: z.string(),
      location: z.string(),
      rows: z.number(),
      bytes: z.number(),
      sha256: z.string(),
    }),
  ),
  errors: z.array(z.string()),
  progressRows: z.number(),
  expectedRows: z.number().nullable(),
});

export const runListResponse = z.object({ items: z.array(runResponse) });

export const deadLetterListResponse = z.object({
  total: z.number(),
  items: z.array(
    z.object({
      id: z.number(),
      dataflowId: z.string(),
      profileId: z.string(),
      payload: z.record(z.string(), z.unknown()),
      attempts: z.number(),
      lastError: z.string().nullable(),
      ingestedAt: isoTime,
      deadAt: isoTime.nullable(),
    }),
  ),
});
