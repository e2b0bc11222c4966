import { describe, expect, it } from "vitest";
import { mapPartitionKeyToId } from "../../../node_modules/@azure/event-hubs/dist/esm/impl/partitionKeyToIdMapper.js";
import { partitionIndexForKey } from "./partition-key-hash.ts";

describe("partitionIndexForKey", () => {
  it("agrees with the official SDK's mapping for keys of every tail length and many partition counts", () => {
    const keys = [
      "",
      "a",
      "profile-1",
      "0b6f7f2e-5d1c-4c1e-9a3e-7d2f2b9c1a10",
      "ü-ñ-漢字-😀",
      "x".repeat(300),
    ];
    for (let i = 0; i < 2000; i++) keys.push(`p${i}-${"k".repeat(i % 29)}`);
    for (const partitions of [1, 2, 3, 4, 7, 16, 32, 100]) {
      for (const key of keys)
        expect(partitionIndexForKey(key, partitions)).toBe(mapPartitionKeyToId(key, partitions));
    }
  });
});
