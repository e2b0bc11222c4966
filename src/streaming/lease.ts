import type { Logger } from "pino";
import type { Store } from "../store/index.ts";

export interface LeaseOptions {
  store: Pick<Store, "tryLock">;
  /** The lock's name: one holder per database for each name. */
  name: string;
  /** While standing by, the wait between tries; while leading, between checks of the connection. */
  retryMs?: number;
  logger?: Logger;
  /** Starts the work only the holder does. */
  lead(): void;
  /** Stops it, once the lease is lost or let go. */
  standDown(): Promise<void>;
}

/**
 * Leadership of one process per database for work that must not run twice (the dispatcher, the
 * sweep): the holder of the store's lock `name` leads; the others try again every `retryMs`. The
 * lock lives with its connection, so when the leader dies the database drops it and a standby
 * leads within a try. A store without locks (DuckDB, one process) leads at once.
 */
export function createLease(options: LeaseOptions) {
  const retryMs = options.retryMs ?? 5_000;
  let state: "stopped" | "standby" | "leading" = "stopped";
  let loop: Promise<void> | undefined;
  let interrupt = () => {};
  let stopping = false;

  /** Waits `ms`, or less if interrupted meanwhile (the lease stopped, the lock lost). */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function leadWhileHeld(tryLock: NonNullable<Store["tryLock"]>) {
    const lock = await tryLock(options.name);
    if (!lock) return;
    if (stopping) return lock.release();
    state = "leading";
    options.logger?.info({ lease: options.name }, "leading");
    options.lead();
    let lost = false;
    lock.lost.then(() => {
      lost = true;
      interrupt();
    });
    try {
      // Checked now and then too: a connection that broke without a word (a network partition) has
      // lost the lock as surely as one that closed.
      while (!stopping) {
        await pause(retryMs);
        if (lost) throw new Error("the lease's connection broke");
        if (stopping) break;
        await withTimeout(lock.check(), retryMs);
      }
    } catch (error) {
      options.logger?.warn({ lease: options.name, err: error }, "lease lost; standing by");
    } finally {
      state = stopping ? "stopped" : "standby";
      await options.standDown();
      await lock.release().catch(() => {});
    }
  }

  async function run(tryLock: NonNullable<Store["tryLock"]>) {
    while (!stopping) {
      try {
        await leadWhileHeld(tryLock);
      } catch (error) {
        options.logger?.warn({ lease: options.name, err: error }, "lease try failed");
      }
      if (!stopping) await pause(retryMs);
    }
  }

  return {
    /** This process waits for the lease rather than leading (ingestion still works). */
    get standingBy() {
      return state === "standby";
    },
    get leading() {
      return state === "leading";
    },
    start() {
      if (state !== "stopped") return;
      stopping = false;
      const tryLock = options.store.tryLock?.bind(options.store);
      if (!tryLock) {
        state = "leading";
        options.lead();
        return;
      }
      state = "standby";
      loop = run(tryLock);
    },
    /** Stops leading (standDown) or standing by, and lets the lock go. */
    async stop() {
      if (state === "stopped" && !loop) return;
      stopping = true;
      interrupt();
      if (loop) await loop;
      else await options.standDown();
      loop = undefined;
      state = "stopped";
    },
  };
}

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export type Lease = ReturnType<typeof createLease>;
