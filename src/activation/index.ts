export { type AudienceQuery, buildAudienceQuery, type MembershipSource } from "./audience-query.ts";
export {
  activeDataflowsFor,
  createDataflow,
  type Dataflow,
  type DataflowInput,
  dataflowInputSchema,
  dataflowsUsingAccount,
  deleteDataflow,
  getDataflow,
  listDataflows,
  type SavedDataflow,
  setDataflowStatus,
  updateDataflow,
} from "./dataflows.ts";
export {
  type ActivationDeps,
  beginSegmentExport,
  runSegmentExport,
  type SegmentDirectory,
} from "./execute-run.ts";
export * from "./export/index.ts";
export { dataflowViolations, type GovernanceDeps, refuseViolatingDataflow } from "./governance.ts";
export { defaultTarget, type Mapping, mappingSchema, resolveMapping } from "./mapping.ts";
export { activationMigrations } from "./migrations.ts";
export {
  ACTIVATION_PERMISSIONS,
  activationPermissions,
  IDENTITY_EXPORT_RULE,
  requireActivationPermissions,
} from "./permissions.ts";
export { parseRunFilter, type RunFilter, runFilterSchema, runStatuses } from "./run-filter.ts";
export {
  failAbandonedRuns,
  getRun,
  listRuns,
  type Run,
  type RunStatus,
  type RunTrigger,
  startRun,
} from "./runs.ts";
export {
  type ActivationService,
  type ActivationServiceOptions,
  createActivationService,
  runsStartedBefore,
} from "./service.ts";
