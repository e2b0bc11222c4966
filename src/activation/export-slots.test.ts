import { describe, expect, it } from "vitest";
import { exportSlots } from "./export-slots.ts";

describe("export slots", () => {
  it("lets `size` exports hold a slot and hands each one freed to the longest waiting", async () => {
    const slots = exportSlots(2);
    const first = await slots.acquire();
    await slots.acquire();
    expect(slots.free()).toBe(false);
    const order: string[] = [];
    const third = slots.acquire().then((release) => {
      order.push("third");
      return release;
    });
    const fourth = slots.acquire().then(() => order.push("fourth"));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual([]);
    first();
    (await third)();
    await fourth;
    expect(order).toEqual(["third", "fourth"]);
    expect(slots.free()).toBe(false); // the second and the fourth still hold theirs
  });
});
