import type { RecordedChange, RecordedChangesListener } from "../segments/index.ts";
import { queueMessages } from "./outbox.ts";
import type { MembershipChange } from "./payload.ts";
import { readProfileRows } from "./profile-state.ts";
import { profileMessages, type QueuedMessage } from "./reevaluate.ts";
import { PLAN_STAMP_SQL, type PlanCache } from "./streaming-plan.ts";

/** Profiles whose messages are built and written at a time: what memory holds of a large change. */
const PROFILES_PER_PAGE = 2_000;

/**
 * Queues to the outbox the membership changes a batch evaluation records in the segments that
 * streaming dataflows stream (the real-time plan's), inside the evaluation's transaction: the
 * messages commit with the memberships or not at all. One message per (dataflow, profile), built
 * as the real-time path builds it; memberships the evaluation leaves as they are send nothing.
 *
 * A pass that changes no streamed segment costs nothing here: the plan's stamp comes with the
 * evaluation's counts (`probeSql`), so the cached plan is checked without a query of its own, and
 * loaded again only when segments, dataflows or the schema changed since.
 */
export function batchChangesToOutbox(
  plans: PlanCache,
  options: { profilesPerPage?: number } = {},
): RecordedChangesListener {
  const profilesPerPage = options.profilesPerPage ?? PROFILES_PER_PAGE;
  return {
    probeSql: PLAN_STAMP_SQL,
    async recorded(db, recorded) {
      const { sandbox, schema, now } = recorded;
      const cached = plans.cached(sandbox, schema);
      const plan =
        cached && cached.stamp === String(recorded.probe)
          ? cached.plan
          : await plans.planFor(db, sandbox, schema);
      const streamed = plan.segments.map((s) => s.id).filter((id) => recorded.changed.has(id));
      if (!streamed.length) return;
      const dataflows = plan.dataflows.filter((d) => streamed.some((id) => d.segmentIds.has(id)));
      // Queue time; there was no request behind these changes.
      const ingestedAt = new Date();
      await recorded.forEachPage(streamed, profilesPerPage, async (page) => {
        const byProfile = changesByProfile(page, now);
        const rows = new Map(
          (await readProfileRows(db, sandbox, schema, [...byProfile.keys()])).map((r) => [String(r._id), r]),
        );
        const messages: QueuedMessage[] = [];
        for (const [profileId, changes] of byProfile) {
          // A profile deleted since still gets its exit, with nothing but its id.
          const profile = rows.get(profileId) ?? { _id: profileId };
          messages.push(...profileMessages(dataflows, schema, profile, changes).messages);
        }
        await queueMessages(db, sandbox, messages, ingestedAt);
      });
    },
  };
}

function changesByProfile(page: readonly RecordedChange[], now: Date): Map<string, MembershipChange[]> {
  const byProfile = new Map<string, MembershipChange[]>();
  for (const change of page) {
    let changes = byProfile.get(change.profileId);
    if (!changes) {
      changes = [];
      byProfile.set(change.profileId, changes);
    }
    changes.push({ segmentId: change.segmentId, status: change.status, changedAt: now });
  }
  return byProfile;
}
