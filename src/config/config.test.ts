import path from "node:path";
import { describe, expect, it } from "vitest";
import { describeSettings, loadConfig } from "./index.ts";

describe("configuration", () => {
  it("takes flags over the environment over the defaults", () => {
    const config = loadConfig(
      { port: 9090 },
      { HERALD_PORT: "7070", HERALD_STREAMING_MAX_ATTEMPTS: "3", HERALD_MAX_CONCURRENT_EXPORTS: "4" },
    );
    expect(config).toMatchObject({
      port: 9090,
      maxConcurrentExports: 4,
      streamingMaxAttempts: 3,
      streamingRecordsPerSecond: 50_000,
      evaluationTime: "02:00",
      dataDir: path.resolve("./herald-data"),
    });
  });

  it("names each invalid setting by its environment variable", () => {
    expect(() =>
      loadConfig({}, { HERALD_STREAMING_MAX_ATTEMPTS: "0", HERALD_STREAMING_RECORDS_PER_SECOND: "fast" }),
    ).toThrow(
      expect.objectContaining({
        code: "invalid_config",
        issues: [
          expect.objectContaining({ field: "HERALD_STREAMING_MAX_ATTEMPTS" }),
          expect.objectContaining({
            field: "HERALD_STREAMING_RECORDS_PER_SECOND",
            message: "HERALD_STREAMING_RECORDS_PER_SECOND: must be a number",
          }),
        ],
      }),
    );
  });

  it("describes every setting with its variable", () => {
    const settings = describeSettings();
    expect(settings.map((s) => s.env)).toContain("HERALD_STREAMING_RECORDS_PER_SECOND");
    expect(settings.every((s) => s.description.includes(s.env))).toBe(true);
  });

  it("lets local-folder accounts write in <data dir>/exports unless HERALD_LOCAL_ROOTS says otherwise", () => {
    expect(loadConfig({ dataDir: "/srv/herald" }, {}).localRoots).toEqual([
      path.join("/srv/herald", "exports"),
    ]);
    const roots = ["/srv/pickup", "/mnt/share/herald/"].join(path.delimiter);
    expect(loadConfig({}, { HERALD_LOCAL_ROOTS: roots }).localRoots).toEqual([
      "/srv/pickup",
      "/mnt/share/herald",
    ]);
    for (const wrong of ["relative/dir", `/srv/pickup${path.delimiter}exports`, path.delimiter]) {
      expect(() => loadConfig({}, { HERALD_LOCAL_ROOTS: wrong })).toThrow(
        expect.objectContaining({ issues: [expect.objectContaining({ field: "HERALD_LOCAL_ROOTS" })] }),
      );
    }
  });
});

describe("HERALD_AUTH", () => {
  it("defaults to none on a loopback host and to token on any other address", () => {
    expect(loadConfig({}, {}).auth).toBe("none");
    expect(loadConfig({}, { HERALD_HOST: "127.0.0.1" }).auth).toBe("none");
    expect(loadConfig({}, { HERALD_HOST: "0.0.0.0" }).auth).toBe("token");
    expect(loadConfig({ host: "::" }, {}).auth).toBe("token");
    expect(loadConfig({}, { HERALD_HOST: "0.0.0.0", HERALD_AUTH: "none" }).auth).toBe("none");
    expect(loadConfig({}, { HERALD_AUTH: "token" }).auth).toBe("token");
  });

  it("refuses another value, naming the variable, and is described with its default", () => {
    expect(() => loadConfig({}, { HERALD_AUTH: "password" })).toThrow(
      expect.objectContaining({
        code: "invalid_config",
        issues: [expect.objectContaining({ field: "HERALD_AUTH" })],
      }),
    );
    const auth = describeSettings(loadConfig({}, { HERALD_HOST: "0.0.0.0" })).find(
      (s) => s.env === "HERALD_AUTH",
    );
    expect(auth).toMatchObject({ value: "token", default: "none on a loopback HERALD_HOST, else token" });
  });
});
