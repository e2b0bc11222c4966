export interface CommitQueueOptions<J> {
  /** Transactions at once (default 1). */
  lanes?: number;
  /** How long the oldest queued job waits for company before a free lane commits it (default 1 ms). */
  lingerMs?: number;
  /** Records per group at most; a queue this full commits at once (default 5,000). */
  maxRecords?: number;
  recordsOf: (job: J) => number;
  /**
   * The profiles a job writes or evaluates, as keys that include its sandbox; undefined when they
   * are known only inside its commit (events named by a secondary identity).
   */
  keysOf: (job: J) => readonly string[] | undefined;
  /** Jobs that may share a transaction have the same group (their sandbox). */
  groupOf: (job: J) => string;
  /** Commits a group in one transaction; settles each job itself and never rejects. */
  commit: (jobs: J[]) => Promise<void>;
}

interface Entry<J> {
  job: J;
  keys: readonly string[] | undefined;
  records: number;
  queuedAt: number;
}

/**
 * Group commit over one or more lanes (concurrent transactions). A free lane takes the oldest
 * queued jobs once the first has waited `lingerMs` (or at once when the queue is full), up to
 * `maxRecords`, skipping a job any of whose profiles is in another lane's transaction — and then
 * every later job on those profiles, so each profile's jobs commit one transaction after the
 * other, in the order they came. A job whose profiles are unknown before its commit goes alone,
 * once nothing else is in flight, and nothing queued after it passes it.
 */
export function createCommitQueue<J>(options: CommitQueueOptions<J>) {
  const lanes = Math.max(1, options.lanes ?? 1);
  const lingerMs = options.lingerMs ?? 1;
  const maxRecords = options.maxRecords ?? 5_000;
  const queue: Entry<J>[] = [];
  const inFlight = new Set<string>();
  let queuedRecords = 0;
  let active = 0;
  let aloneInFlight = false;
  let timer: NodeJS.Timeout | undefined;
  let closing = false;
  let drained: (() => void) | undefined;

  /** The next group a free lane may commit, taken off the queue; undefined when none may go now. */
  function take(): Entry<J>[] | undefined {
    if (aloneInFlight) return undefined;
    const passedOver = new Set<string>();
    const taken: number[] = [];
    let records = 0;
    let group: string | undefined;
    for (let i = 0; i < queue.length; i++) {
      const entry = queue[i] as Entry<J>;
      const { keys } = entry;
      if (!keys) {
        if (i > 0 || active > 0) break;
        aloneInFlight = true;
        taken.push(i);
        break;
      }
      const conflicts = keys.some((k) => inFlight.has(k) || passedOver.has(k));
      if (conflicts || (group !== undefined && options.groupOf(entry.job) !== group)) {
        for (const k of keys) passedOver.add(k);
        continue;
      }
      if (taken.length && records + entry.records > maxRecords) break;
      taken.push(i);
      records += entry.records;
      group = options.groupOf(entry.job);
    }
    if (!taken.length) return undefined;
    const entries = taken.map((i) => queue[i] as Entry<J>);
    for (const i of taken.reverse()) queue.splice(i, 1);
    for (const entry of entries) {
      queuedRecords -= entry.records;
      for (const k of entry.keys ?? []) inFlight.add(k);
    }
    return entries;
  }

  function run(entries: Entry<J>[]) {
    active++;
    options
      .commit(entries.map((e) => e.job))
      .catch(() => {})
      .finally(() => {
        active--;
        for (const entry of entries) {
          if (!entry.keys) aloneInFlight = false;
          for (const k of entry.keys ?? []) inFlight.delete(k);
        }
        kick();
        if (!active && !queue.length) drained?.();
      });
  }

  function kick() {
    while (active < lanes && queue.length) {
      const waited = performance.now() - (queue[0] as Entry<J>).queuedAt;
      if (!closing && queuedRecords < maxRecords && waited < lingerMs) {
        timer ??= setTimeout(() => {
          timer = undefined;
          kick();
        }, lingerMs - waited);
        return;
      }
      const entries = take();
      if (!entries) return;
      run(entries);
    }
  }

  return {
    push(job: J) {
      const records = options.recordsOf(job);
      queue.push({ job, keys: options.keysOf(job), records, queuedAt: performance.now() });
      queuedRecords += records;
      kick();
    },
    /** Commits everything queued, without lingering; resolves when no commit is left. */
    async drain(): Promise<void> {
      closing = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      kick();
      if (active || queue.length) await new Promise<void>((resolve) => (drained = resolve));
    },
  };
}
