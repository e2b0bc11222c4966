/**
 * The real-time path: ingest → evaluate (in memory) → memberships + outbox in one transaction →
 * dispatcher → streaming destinations; dead letters, time-based exits and metrics. The only file
 * other parts import.
 */

export { createRateLimiter, defaultRetryPolicy, type RetryPolicy, retryAt, retryDelayMs } from "./backoff.ts";
export { batchChangesToOutbox } from "./batch-changes.ts";
export {
  type DeadLetter,
  type DeadLetterSelection,
  discardDeadLetters,
  listDeadLetters,
  replayDeadLetters,
} from "./dead-letters.ts";
export { createDispatcher, type Dispatcher, type DispatcherOptions } from "./dispatcher.ts";
export {
  type CommitWith,
  createStreamingIngest,
  type RecordsReport,
  type StreamingIngest,
  type StreamingIngestOptions,
} from "./ingest-service.ts";
export {
  createStreamingMetrics,
  metricsView,
  type StreamingMetrics,
  type StreamingMetricsView,
} from "./metrics.ts";
export { streamingMigrations } from "./migrations.ts";
export {
  buildProfileMessage,
  MEMBERSHIP_NAMESPACE,
  type MembershipChange,
  type ProfileMessage,
} from "./payload.ts";
export { type ReevaluationResult, reevaluateProfiles } from "./reevaluate.ts";
export { createStreamingService, type StreamingService, type StreamingServiceOptions } from "./service.ts";
export { loadStreamingPlan, type StreamingDataflow, type StreamingPlan } from "./streaming-plan.ts";
export { createSweeper, type Sweeper } from "./sweep.ts";
