/**
 * Starts two throwaway servers, prints their process ids and directories as one JSON line, then
 * waits to be killed. Used by the harness test to prove that an interrupted owner leaves
 * nothing behind. Argument: the template data directory.
 */
import { MariaDbSet } from '../../src/testing/mariadb-harness.js';

const templateDir = process.argv[2];
if (templateDir === undefined) throw new Error('usage: harness-child.ts TEMPLATE_DIR');
const set = await MariaDbSet.start({ count: 2, templateDir });
process.stdout.write(
  `${JSON.stringify({
    pids: set.servers.map((server) => server.pid),
    dirs: [set.rootDir, ...set.servers.map((server) => server.dataDir)],
  })}\n`,
);
setInterval(() => {}, 1000);
