import type { LabelExpression } from "./label-expression.ts";

/** A policy Herald ships: in every sandbox, disabled until someone enables it. */
export interface CorePolicy {
  id: string;
  name: string;
  description: string;
  marketingAction: string;
  expression: LabelExpression;
}

const anyOf = (...labels: string[]): LabelExpression => ({ operator: "OR", operands: labels });

/** The shipped policies, one per core label's restriction (C4 implies C5, C6 and C7). */
export const CORE_POLICIES: readonly CorePolicy[] = [
  {
    id: "core-restrict-data-export",
    name: "Restrict data export",
    description:
      "Data labelled C2 (no export to third parties) or C12 (no export) is not sent to third parties",
    marketingAction: "export_to_third_party",
    expression: anyOf("C2", "C12"),
  },
  {
    id: "core-restrict-onsite-advertising",
    name: "Restrict onsite advertising",
    description: "Data labelled C4 or C6 is not used for ads on the company's own sites",
    marketingAction: "onsite_advertising",
    expression: anyOf("C4", "C6"),
  },
  {
    id: "core-restrict-cross-site-targeting",
    name: "Restrict cross-site targeting",
    description: "Data labelled C4 or C5 is not used to target across sites",
    marketingAction: "cross_site_targeting",
    expression: anyOf("C4", "C5"),
  },
  {
    id: "core-restrict-onsite-personalization",
    name: "Restrict onsite personalization",
    description: "Data labelled C4 or C7 is not used to personalise content on the company's own sites",
    marketingAction: "onsite_personalization",
    expression: anyOf("C4", "C7"),
  },
  {
    id: "core-restrict-combining-with-identifiable-data",
    name: "Restrict combining with identifiable data",
    description: "Data labelled C3 is not combined with directly identifying data (I1)",
    marketingAction: "combine_with_pii",
    expression: { operator: "AND", operands: ["C3", "I1"] },
  },
  {
    id: "core-restrict-analytics",
    name: "Restrict analytics",
    description: "Data labelled C8 is not used for measurement",
    marketingAction: "analytics",
    expression: anyOf("C8"),
  },
  {
    id: "core-restrict-data-science",
    name: "Restrict data science",
    description: "Data labelled C9 is not used in data science workflows",
    marketingAction: "data_science",
    expression: anyOf("C9"),
  },
  {
    id: "core-restrict-segment-match",
    name: "Restrict segment match",
    description: "Data labelled C11 is not shared with segment-match partners",
    marketingAction: "segment_match",
    expression: anyOf("C11"),
  },
];
