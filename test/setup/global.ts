import type { TestProject } from "vitest/node";
import { startPostgresCluster } from "../support/postgres-cluster.ts";

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

/** One PostgreSQL cluster for the whole run; each test file creates its own databases in it. */
export default async function setup(project: TestProject) {
  const cluster = await startPostgresCluster();
  project.provide("postgresUrl", cluster.url());
  return () => cluster.stop();
}
