import { Command } from "commander";
import { generateDataset } from "../profiles/generate/index.ts";

// Files only: none of the store's global options (--data-dir, --log-level, --sandbox) apply.
export const generateCommand = new Command("generate")
  .description("Write a realistic, deterministic synthetic data set (profiles.csv, events.csv)")
  .requiredOption("--profiles <n>", "number of profiles (required)")
  .option("--events-per-profile <k>", "average events per profile", "5")
  .option("--seed <s>", "random seed: the same seed gives the same files", "42")
  .requiredOption("--out <dir>", "output folder (required)")
  .action(async (options: { profiles: string; eventsPerProfile: string; seed: string; out: string }) => {
    const profiles = Number(options.profiles);
    const eventsPerProfile = Number(options.eventsPerProfile);
    if (!Number.isSafeInteger(profiles) || profiles < 1)
      throw new Error("--profiles must be a positive integer");
    if (!Number.isFinite(eventsPerProfile) || eventsPerProfile < 0)
      throw new Error("--events-per-profile must be a number >= 0");
    const started = Date.now();
    const result = await generateDataset({
      profiles,
      eventsPerProfile,
      seed: Number(options.seed),
      outDir: options.out,
    });
    process.stdout.write(
      `${JSON.stringify(result)}\nwritten in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  });
