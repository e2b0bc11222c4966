import type { Issue } from "../../errors/index.ts";

/** How many issues a file report lists; all of them are counted. */
export const MAX_REPORTED_ISSUES = 1_000;

/**
 * Collects a file's issues in row order with bounded memory: the first `MAX_REPORTED_ISSUES` are
 * kept, the rest only counted, so a file of bad rows cannot exhaust memory.
 */
export class IssueCollector {
  readonly issues: Issue[] = [];
  total = 0;
  rejectedRows = 0;

  /** Adds one rejected row's issues (at least one). */
  reject(issues: readonly Issue[]) {
    this.rejectedRows++;
    this.add(issues);
  }

  add(issues: readonly Issue[]) {
    for (const issue of issues) {
      this.total++;
      if (this.issues.length < MAX_REPORTED_ISSUES) this.issues.push(issue);
    }
  }
}
