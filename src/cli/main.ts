#!/usr/bin/env node
import { Command } from "commander";
import { describeSettings, loadConfig } from "../config/index.ts";
import { rolesCommand, tokensCommand, usersCommand } from "./access.ts";
import { dataflowsCommand, runsCommand } from "./activation.ts";
import { alertsCommand } from "./alerts.ts";
import { reportError } from "./context.ts";
import { deadLettersCommand } from "./deadletters.ts";
import { demoCommand } from "./demo.ts";
import { accountsCommand, destinationsCommand } from "./destinations.ts";
import { generateCommand } from "./generate.ts";
import { labelsCommand, policiesCommand } from "./governance.ts";
import { ingestCommand } from "./ingest.ts";
import { keysCommand } from "./keys.ts";
import { profilesCommand } from "./profiles.ts";
import { schemaCommand } from "./schema.ts";
import { segmentsCommand } from "./segments.ts";
import { startCommand } from "./start.ts";

const configCommand = new Command("config")
  .description(
    "The settings: each one's environment variable, effective value (default), meaning; secrets are not shown",
  )
  .option("--data-dir <dir>", "folder for the embedded store (HERALD_DATA_DIR, default ./herald-data)")
  .action((options: { dataDir?: string }) => {
    const settings = describeSettings(loadConfig({ dataDir: options.dataDir }));
    const width = Math.max(...settings.map((s) => s.env.length));
    for (const s of settings) {
      const value = s.value ?? "(unset)";
      const fallback =
        s.default === undefined ? "" : s.default === s.value ? " (default)" : ` (default ${s.default})`;
      process.stdout.write(`${s.env.padEnd(width)}  ${value}${fallback}  ${s.description}\n`);
    }
  });

const program = new Command("herald")
  .description("Herald: real-time customer data platform for audience activation")
  .version("0.1.0")
  .addCommand(startCommand)
  .addCommand(demoCommand)
  .addCommand(schemaCommand)
  .addCommand(ingestCommand)
  .addCommand(generateCommand)
  .addCommand(profilesCommand)
  .addCommand(segmentsCommand)
  .addCommand(destinationsCommand)
  .addCommand(accountsCommand)
  .addCommand(dataflowsCommand)
  .addCommand(runsCommand)
  .addCommand(alertsCommand)
  .addCommand(labelsCommand)
  .addCommand(policiesCommand)
  .addCommand(deadLettersCommand)
  .addCommand(usersCommand)
  .addCommand(rolesCommand)
  .addCommand(tokensCommand)
  .addCommand(keysCommand)
  .addCommand(configCommand);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportError(error);
}
