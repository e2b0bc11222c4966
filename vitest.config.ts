import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Tests that start servers (PostgreSQL, sshd, emulators) share two cores: keep parallelism modest.
    maxWorkers: 2,
    globalSetup: ["test/setup/global.ts"],
  },
});
