/**
 * At most `size` exports at once: each holds its own buffers and worker-thread gzip, so exports
 * due at the same moment (ten dataflows at 06:00) would otherwise add their memory together and
 * share two cores ten ways. The others wait, first come first served, with the status `queued`.
 */
export interface ExportSlots {
  /** Whether an export starting now would run at once. */
  free(): boolean;
  /** Resolves once a slot is held; call the returned function to give it back. */
  acquire(): Promise<() => void>;
}

export function exportSlots(size: number): ExportSlots {
  let held = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else held--;
  };
  return {
    free: () => held < size,
    acquire() {
      if (held < size) {
        held++;
        return Promise.resolve(release);
      }
      // The releasing export hands its slot straight to the next waiting one.
      return new Promise((resolve) => waiting.push(() => resolve(release)));
    },
  };
}
