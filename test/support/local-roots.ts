import path from "node:path";

/**
 * HERALD_LOCAL_ROOTS for tests of other behaviour: the file system's root, so a local account
 * anywhere (under os.tmpdir(), or a missing /no/such/folder) is judged by the folder itself. The
 * setting's own tests (test/destinations/local-roots.test.ts) give narrower folders.
 */
export const anyFolder = path.parse(process.cwd()).root;
