import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildServer, migrateParts, wireParts } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import { createLocalDestination } from "../../src/destinations/local/index.ts";
import type { Store } from "../../src/store/index.ts";
import { storeWithDefaultSchema } from "../support/herald-store.ts";

const REFUSAL = "connection.root: outside the folders Herald may write to (HERALD_LOCAL_ROOTS)";

/** HERALD_LOCAL_ROOTS: a local-folder account writes only in the folders the operator allowed. */
describe("Local folder roots (HERALD_LOCAL_ROOTS)", () => {
  let work: string;
  let allowed: string;
  let outside: string;
  beforeEach(() => {
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "herald-local-roots-")));
    allowed = path.join(work, "allowed");
    outside = path.join(work, "outside");
    fs.mkdirSync(path.join(allowed, "daily"), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "a-file"), "x");
    // Links inside the allowed folder leading out of it: to a folder, and to a missing path's parent.
    fs.symlinkSync(outside, path.join(allowed, "escape"));
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const connector = () => {
    const { connector } = createLocalDestination({ allowedRoots: [allowed] });
    if (connector.kind !== "file") throw new Error("the local destination is a file connector");
    return connector;
  };

  it("takes an allowed folder and any folder inside one", async () => {
    await expect(connector().validate({ root: allowed }, {})).resolves.toBeUndefined();
    await expect(connector().validate({ root: path.join(allowed, "daily") }, {})).resolves.toBeUndefined();
    await expect(connector().validate({ root: allowed }, { folderPath: "daily" })).resolves.toBeUndefined();
  });

  it("says a missing folder inside an allowed one does not exist", async () => {
    await expect(connector().validate({ root: path.join(allowed, "gone") }, {})).rejects.toMatchObject({
      kind: "not_found",
      message: expect.stringContaining("does not exist"),
    });
  });

  it.each([
    ["a system folder", () => "/etc"],
    ["root's home", () => "/root"],
    ["an existing folder outside", () => outside],
    ["a file outside", () => path.join(outside, "a-file")],
    ["a missing path outside", () => path.join(outside, "no", "such", "folder")],
    ["'..' climbing out", () => `${allowed}/../outside`],
    ["a folder next to the allowed one sharing its prefix", () => `${allowed}-twin`],
    ["a symbolic link leading out", () => path.join(allowed, "escape")],
    ["a missing path behind a link leading out", () => path.join(allowed, "escape", "missing")],
  ])("refuses %s with one message that tells nothing of the path", async (_, root) => {
    const refusal = { kind: "forbidden", code: "root_not_allowed", message: REFUSAL };
    await expect(connector().validate({ root: root() }, {})).rejects.toMatchObject(refusal);
    await expect(connector().open({ root: root() }, {})).rejects.toMatchObject(refusal);
    // Nothing was written there: no probe file left behind, nor written and removed.
    expect(fs.readdirSync(outside)).toEqual(["a-file"]);
  });

  it("resolves the allowed folders' own symbolic links", async () => {
    const link = path.join(work, "link-to-allowed");
    fs.symlinkSync(allowed, link);
    const { connector } = createLocalDestination({ allowedRoots: [link] });
    await expect(connector.validate({ root: path.join(allowed, "daily") }, {})).resolves.toBeUndefined();
    await expect(connector.validate({ root: outside }, {})).rejects.toMatchObject({ message: REFUSAL });
  });

  describe("through the API, as `herald start` wires it", () => {
    let store: Store;
    let app: FastifyInstance;
    afterEach(async () => {
      await app?.close();
      await store?.close();
    });

    /** The server with the default setting: `<data dir>/exports`, where the demo exports. */
    async function server(env: NodeJS.ProcessEnv = {}) {
      ({ store } = await storeWithDefaultSchema("duckdb"));
      await migrateParts(store);
      const config = loadConfig({ dataDir: work, logLevel: "silent" }, env);
      app = await buildServer(
        wireParts({
          config,
          store,
          logger: pino({ level: "silent" }),
          keys: localKeyProvider(randomBytes(32)),
        }),
      );
    }
    const create = (root: string) =>
      app.inject({
        method: "POST",
        url: "/v1/accounts",
        payload: { destination: "local", name: "drop", connection: { root } },
      });
    const accounts = async () => (await app.inject("/v1/accounts")).json().items as unknown[];

    it("refuses a root outside <data dir>/exports by default, saving nothing, and takes one inside", async () => {
      await server();
      for (const root of ["/etc", "/root", outside, path.join(outside, "a-file"), "/no/such/folder"]) {
        const refused = await create(root);
        expect(refused.statusCode).toBe(403);
        expect(refused.json().error).toMatchObject({ code: "root_not_allowed", message: REFUSAL });
        expect(refused.body).not.toMatch(/exist|not a folder|a-file/);
      }
      expect(await accounts()).toEqual([]);
      fs.mkdirSync(path.join(work, "exports", "pickup"), { recursive: true });
      expect((await create(path.join(work, "exports", "pickup"))).statusCode).toBe(201);
    });

    it("takes the folders HERALD_LOCAL_ROOTS names instead", async () => {
      await server({ HERALD_LOCAL_ROOTS: [path.join(work, "elsewhere"), allowed].join(path.delimiter) });
      expect((await create(allowed)).statusCode).toBe(201);
      fs.mkdirSync(path.join(work, "exports"));
      expect((await create(path.join(work, "exports"))).json().error.message).toBe(REFUSAL);
    });
  });
});
