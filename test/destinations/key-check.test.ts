import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { openHerald } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { createAccount } from "../../src/destinations/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";

const silent = pino({ level: "silent" });

// Processes sharing a store must hold the key that sealed its credentials: one started with another
// would fail every export and stream it runs (and, leading the dispatcher, stall them all).
describe("the key a Herald starts with", () => {
  let dataDir = "";
  afterEach(() => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("must open the credentials the store holds: another key is refused at start, naming the setting", async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-key-check-"));
    fs.mkdirSync(path.join(dataDir, "exports"));
    const configWith = (key: string) => loadConfig({ dataDir }, { HERALD_SECRET_KEY: key });
    const sealing = randomBytes(32).toString("hex");
    const herald = await openHerald(configWith(sealing), silent);
    await createAccount(herald, DEFAULT_SANDBOX, {
      destinationId: "local",
      name: "drop",
      connection: { root: path.join(dataDir, "exports") },
    });
    await herald.close();

    await expect(openHerald(configWith(randomBytes(32).toString("hex")), silent)).rejects.toMatchObject({
      code: "key_mismatch",
      message: expect.stringMatching(/cannot open the credentials this store holds: set HERALD_SECRET_KEY/),
    });
    // The refused start left the store closed: the right key opens it.
    const again = await openHerald(configWith(sealing), silent);
    await again.close();
  });
});
