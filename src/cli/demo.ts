import fs from "node:fs";
import path from "node:path";
import { createDataflow } from "../activation/index.ts";
import { type Herald, openHerald } from "../api/index.ts";
import { createAccount } from "../destinations/index.ts";
import { ingestFile } from "../profiles/files/index.ts";
import { generateDataset } from "../profiles/generate/index.ts";
import { loadSchema } from "../schema/index.ts";
import { createSegment, evaluateAndNotify } from "../segments/index.ts";
import { DEFAULT_SANDBOX } from "../store/index.ts";
import { configFrom, type GlobalOptions, newCommand } from "./context.ts";
import { printReport } from "./ingest.ts";
import { progressReporter } from "./progress.ts";
import { serve } from "./start.ts";

/** Segments a marketer would start from, evaluated once so their audiences are there to explore. */
const demoSegments = [
  {
    id: "men-over-50",
    name: "Men over 50",
    definition: 'person.gender = "male" and age(person.birthDate) > 50',
  },
  {
    id: "french-email-optin",
    name: "French customers who consented to email",
    definition: 'homeAddress.countryCode = "FR" and consents.marketing.email.val = "y"',
  },
  { id: "repeat-buyers", name: "Repeat buyers", definition: "count(commerce.purchases) >= 2" },
  {
    id: "gold-big-spenders",
    name: "Gold members who spent over 500",
    definition: 'loyalty.tier in ["gold", "platinum"] and sum(commerce.purchases.priceTotal) > 500',
  },
];

async function createDemoSegments(herald: Herald) {
  for (const segment of demoSegments) await createSegment(herald.store, DEFAULT_SANDBOX, segment);
  const evaluations = await evaluateAndNotify(
    herald.store,
    DEFAULT_SANDBOX,
    demoSegments.map((s) => s.id),
  );
  for (const e of evaluations) process.stdout.write(`segment ${e.segmentId}: ${e.size} members\n`);
  // A local folder and a daily dataflow: `POST /v1/dataflows/{id}/runs` exports at once.
  const root = path.resolve(herald.config.dataDir, "exports");
  fs.mkdirSync(root, { recursive: true });
  const account = await createAccount(herald, DEFAULT_SANDBOX, {
    destinationId: "local",
    name: "Demo export folder",
    connection: { root },
  });
  const dataflow = await createDataflow(herald, DEFAULT_SANDBOX, {
    name: "Men over 50 to the demo folder",
    accountId: account.id,
    marketingActions: ["email_targeting"],
    segments: [
      { segmentId: "men-over-50", schedule: { frequency: "daily", time: "06:00", timezone: "UTC" } },
    ],
    mapping: {
      columns: [
        { source: { kind: "identity", namespace: "email" }, target: "email", mandatory: true },
        { source: { kind: "attribute", path: "person.name.firstName" }, target: "first_name" },
        { source: { kind: "attribute", path: "person.name.lastName" }, target: "last_name" },
        { source: { kind: "attribute", path: "homeAddress.city" }, target: "city" },
        { source: { kind: "membership", field: "status" }, target: "status" },
      ],
    },
    fileOptions: { csv: { delimiter: ";" }, manifest: true },
    status: "enabled",
  });
  process.stdout.write(
    `dataflow ${dataflow.id} exports men-over-50 daily to ${root}; export now: herald runs trigger ${dataflow.id} (or POST /v1/dataflows/${dataflow.id}/runs)\n`,
  );
}

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
      await createDemoSegments(herald);
    } else {
      herald.logger.info({ profiles: n }, "demo data already loaded");
    }
    await serve(herald);
  });
