import { describe, expect, it } from "vitest";
import { createCommitQueue } from "./commit-queue.ts";

interface Job {
  name: string;
  profiles?: string[];
}

/** A queue whose commits stay open until the test ends them, recording what ran together. */
function harness(lanes: number, lingerMs = 0) {
  const started: string[][] = [];
  const open = new Map<string, () => void>();
  const queue = createCommitQueue<Job>({
    lanes,
    lingerMs,
    maxRecords: 100,
    recordsOf: () => 1,
    keysOf: (job) => job.profiles?.map((p) => `prod\n${p}`),
    groupOf: () => "prod",
    commit: (jobs) =>
      new Promise<void>((resolve) => {
        const names = jobs.map((j) => j.name);
        started.push(names);
        open.set(names.join("+"), resolve);
      }),
  });
  const tick = () => new Promise((r) => setTimeout(r, 5));
  const finish = async (group: string) => {
    open.get(group)?.();
    open.delete(group);
    await tick();
  };
  return { queue, started, finish, tick };
}

describe("commit queue", () => {
  it("commits disjoint profiles in parallel lanes and one profile's jobs one after the other, in order", async () => {
    const { queue, started, finish, tick } = harness(2);
    queue.push({ name: "a1", profiles: ["ann"] });
    await tick();
    queue.push({ name: "a2", profiles: ["ann"] });
    queue.push({ name: "b1", profiles: ["bob"] });
    queue.push({ name: "a3", profiles: ["ann", "cid"] });
    queue.push({ name: "c1", profiles: ["cid"] });
    await tick();
    // a2 waits for a1; b1 takes the other lane; a3 waits behind a2, and c1 behind a3 (cid).
    expect(started).toEqual([["a1"], ["b1"]]);
    await finish("a1");
    expect(started[2]).toEqual(["a2", "a3", "c1"]);
    await finish("b1");
    await finish("a2+a3+c1");
    expect(started).toHaveLength(3);
  });

  it("runs a job whose profiles are unknown alone, after what came before, and before what came after", async () => {
    const { queue, started, finish, tick } = harness(2);
    queue.push({ name: "a1", profiles: ["ann"] });
    queue.push({ name: "x" });
    queue.push({ name: "b1", profiles: ["bob"] });
    await tick();
    expect(started).toEqual([["a1"]]);
    await finish("a1");
    expect(started).toEqual([["a1"], ["x"]]);
    await finish("x");
    expect(started).toEqual([["a1"], ["x"], ["b1"]]);
    await finish("b1");
  });

  it("lets a job wait for company, and drains what is queued without waiting", async () => {
    const { queue, started, finish, tick } = harness(1, 10_000);
    queue.push({ name: "a1", profiles: ["ann"] });
    queue.push({ name: "b1", profiles: ["bob"] });
    await tick();
    expect(started).toEqual([]);
    const drained = queue.drain();
    await tick();
    expect(started).toEqual([["a1", "b1"]]);
    await finish("a1+b1");
    await drained;
  });
});
