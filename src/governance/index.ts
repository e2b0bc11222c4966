/**
 * Data-usage governance: labels, marketing actions, policies, and their enforcement (dataflows at
 * activation and at every run, streamed messages, and every later edit). The only file other parts
 * import.
 */
export {
  type ConsentPolicy,
  type ConsentRequirement,
  type ConsentValue,
  consentPolicyInputSchema,
  consentRequirements,
  createConsentPolicy,
  deleteConsentPolicy,
  getConsentPolicy,
  listConsentPolicies,
  setConsentPolicyStatus,
} from "./consent.ts";
export { CORE_POLICIES, type CorePolicy } from "./core-policies.ts";
export { refuseEditViolations } from "./edit-guard.ts";
export {
  type ActiveDataflows,
  evaluateDataflowPolicies,
  findViolations,
  type GovernanceFacts,
  type GovernedDataflow,
  type LineageEntry,
  labelsInPlay,
  loadGovernanceFacts,
  policyViolationError,
  refusePolicyViolations,
  type Violation,
} from "./enforcement.ts";
export { addLabelledField, labelField } from "./field-labels.ts";
export {
  expressionLabels,
  type LabelExpression,
  labelExpressionSchema,
  labelsThatHold,
  printExpression,
} from "./label-expression.ts";
export {
  CORE_LABELS,
  createLabel,
  customLabelInputSchema,
  deleteLabel,
  type Label,
  labelNameSchema,
  listLabels,
  requireKnownLabels,
} from "./labels.ts";
export {
  CORE_MARKETING_ACTIONS,
  createMarketingAction,
  deleteMarketingAction,
  findMarketingAction,
  listMarketingActions,
  type MarketingAction,
  marketingActionInputSchema,
  requireKnownMarketingActions,
} from "./marketing-actions.ts";
export { governanceMigrations } from "./migrations.ts";
export {
  createPolicy,
  deletePolicy,
  policiesForAction,
  policiesNamingLabel,
  policyInputSchema,
  policyPatchSchema,
  updatePolicy,
} from "./policies.ts";
export {
  getPolicy,
  listPolicies,
  type Policy,
  type PolicyStatus,
  policyStatusSchema,
} from "./policy-store.ts";
export { updateSegmentGoverned } from "./segment-rules.ts";
