import fs from "node:fs";
import path from "node:path";
import { openHerald } from "../api/index.ts";
import { ingestFile } from "../profiles/files/index.ts";
import { generateDataset } from "../profiles/generate/index.ts";
import { loadSchema } from "../schema/index.ts";
import { DEFAULT_SANDBOX } from "../store/index.ts";
import { configFrom, type GlobalOptions, newCommand } from "./context.ts";
import { printReport } from "./ingest.ts";
import { progressReporter } from "./progress.ts";
import { serve } from "./start.ts";

/** Starts Herald with a generated demo set loaded once into the `prod` sandbox. */
export const demoCommand = newCommand(
  "demo",
  "Start Herald with about 100,000 demo profiles and their events",
)
  .option("--profiles <n>", "demo profiles to generate", "100000")
  .option("--host <host>", "address to listen on (HERALD_HOST, default 127.0.0.1)")
  .option("--port <port>", "port to listen on (HERALD_PORT, default 8080)")
  .action(async (options: GlobalOptions & { profiles: string; host?: string; port?: string }) => {
    const config = configFrom(options, {
      ...(options.host ? { host: options.host } : {}),
      ...(options.port ? { port: options.port } : {}),
    });
    const herald = await openHerald(config);
    const [{ n }] = (await herald.store.query<{ n: number }>(
      DEFAULT_SANDBOX,
      "SELECT count(*) AS n FROM {profiles}",
    )) as [{ n: number }];
    if (n === 0) {
      const dir = path.join(config.dataDir, "demo");
      fs.mkdirSync(dir, { recursive: true });
      herald.logger.info({ dir }, "generating demo data");
      await generateDataset({
        profiles: Number(options.profiles),
        eventsPerProfile: 5,
        seed: 42,
        outDir: dir,
      });
      const schema = await loadSchema(herald.store, DEFAULT_SANDBOX);
      for (const kind of ["profiles", "events"] as const) {
        const file = path.join(dir, `${kind}.csv`);
        const progress = progressReporter(`loading demo ${kind}`);
        const report = await ingestFile(herald.store, schema, {
          path: file,
          kind,
          onProgress: (rows: number) => progress.update(rows),
        }).finally(() => progress.stop());
        printReport(file, report);
      }
    } else {
      herald.logger.info({ profiles: n }, "demo data already loaded");
    }
    await serve(herald);
  });
