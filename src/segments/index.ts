/**
 * Segmentation: the segment language and its AST, the SQL compiler (batch), the in-memory
 * evaluator (streaming), segments and their memberships. The only file other parts import.
 */
export {
  type AggregateFn,
  type ComparisonOp,
  type Condition,
  conditionSchema,
  type Duration,
  type EventSelector,
  type Literal,
  type Operand,
  type SegmentAst,
  segmentAstSchema,
  type Window,
} from "./ast.ts";
export {
  type CompiledSql,
  type CompileSqlOptions,
  compileSegmentsToSql,
  compileSegmentToSql,
} from "./compile-sql/index.ts";
export { estimateSegment, type SegmentEstimate } from "./estimate.ts";
export {
  compileEvaluator,
  type EvaluatorOptions,
  type ProfileEvent,
  type ProfileRecord,
  type SegmentEvaluator,
} from "./evaluate.ts";
export { eventTypeWarnings } from "./event-type-warnings.ts";
export { type FieldRead, fieldsRead } from "./fields-read.ts";
export {
  listenToRecordedChanges,
  type MembershipState,
  type MembershipWrite,
  membershipStatements,
  type RecordedChange,
  type RecordedChanges,
  type RecordedChangesListener,
} from "./membership-writes.ts";
export {
  evaluateSegments,
  listMembers,
  type Member,
  type MemberPage,
  type MembershipStatus,
  membersCsv,
  recordMembership,
  type SegmentEvaluation,
  segmentDirectory,
  segmentHistory,
  segmentMemberships,
} from "./memberships.ts";
export { segmentMigrations } from "./migrations.ts";
export { type Parsed, type ParseOptions, parseSegment } from "./parse.ts";
export { printSegment } from "./print.ts";
export { noSegments, type SegmentResolver } from "./references.ts";
export {
  createEvaluationScheduler,
  type EvaluationListener,
  type EvaluationScheduler,
  evaluateAndNotify,
  latestDailyInstant,
} from "./scheduler.ts";
export {
  createSegment,
  deleteSegment,
  getSegment,
  getStoredSegment,
  type InvalidSegment,
  invalidSegmentError,
  isInvalidSegment,
  listSegments,
  listStoredSegments,
  parseDefinition,
  type SavedSegment,
  type Segment,
  type SegmentInput,
  type SegmentPatch,
  type StoredSegment,
  segmentIdSchema,
  segmentInputSchema,
  segmentPatchSchema,
  segmentResolver,
  segmentsToEvaluate,
  updateSegment,
  validateDefinition,
} from "./segments.ts";
export {
  lastWindows,
  nextTimeChange,
  type StreamingEligibility,
  type StreamingOptions,
  streamingEligibility,
  streamingEventReach,
} from "./streaming.ts";
export { typecheckSegment } from "./typecheck.ts";
