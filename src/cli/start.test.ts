import { describe, expect, it } from "vitest";
import { isLoopback } from "./start.ts";

describe("the address Herald listens on", () => {
  it("is loopback only for 127.x, ::1 and localhost: anything else warns that there is no login", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) expect(isLoopback(host)).toBe(true);
    for (const host of ["0.0.0.0", "::", "192.168.1.4", "herald.internal", "10.0.0.7"])
      expect(isLoopback(host)).toBe(false);
  });
});
