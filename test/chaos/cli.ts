import { join } from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { pino } from 'pino';
import { installDriverDestroyGuard } from '../../src/mariadb/driver-destroy-guard.js';
import { allNemeses, type NemesisKind, nemesisKinds, runChaos } from './runner.js';

/**
 * `npm run chaos -- --nodes 3|5 --duration S --seed N [--nemesis kill,pause,partition,db-kill,all]`
 * Prints the summary; the last line is a JSON object; exit code 1 when the checker finds anything.
 * Starts MariaDB servers: run it under the shared lock on a shared machine.
 */
const program = new Command()
  .name('chaos')
  .description('fault-injection run against a local WolfScale cluster, with lost-write and divergence checks')
  .option('--nodes <n>', 'cluster size (3 or 5)', '3')
  .option('--duration <s>', 'seconds of workload under faults', '60')
  .option('--seed <n>', 'seed of the fault schedule and the workload', String(Date.now() % 100_000))
  .option(
    '--nemesis <list>',
    `comma-separated: ${nemesisKinds.join(', ')}, all (= ${allNemeses.join(',')})`,
    'all',
  )
  .option('--clients <n>', 'clients per workload', '2')
  .option('--out <dir>', 'where history.json and summary.txt go (default /tmp/wolfscale-chaos/<seed>-<time>)')
  .option('--planted-bug <name>', 'run a deliberately broken build (ack-before-quorum)')
  .option('--apply-mode <mode>', 'apply.mode of every node: replica (the default) or session');
program.parse();
const opts = program.opts();
const nemeses = opts.nemesis === 'all' ? allNemeses : (opts.nemesis.split(',') as NemesisKind[]);
for (const n of nemeses) {
  if (!nemesisKinds.includes(n)) {
    process.stderr.write(`unknown nemesis '${n}': use ${nemesisKinds.join(', ')} or all\n`);
    process.exit(2);
  }
}
if (opts.applyMode !== undefined && opts.applyMode !== 'replica' && opts.applyMode !== 'session') {
  process.stderr.write(`unknown --apply-mode '${opts.applyMode}': use replica or session\n`);
  process.exit(2);
}
const seed = Number(opts.seed);
const outDir =
  opts.out ?? join('/tmp/wolfscale-chaos', `${seed}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
// The runner's own clients are destroyed mid-statement (see src/mariadb/driver-destroy-guard.ts).
installDriverDestroyGuard(pino({ level: 'warn' }, pino.destination(2)));
const report = await runChaos({
  nodes: Number(opts.nodes),
  durationS: Number(opts.duration),
  seed,
  nemeses,
  outDir,
  ...(opts.applyMode === undefined
    ? {}
    : { applyMode: opts.applyMode === 'session' ? 'session' : 'replica' }),
  clientsPerWorkload: Number(opts.clients),
  ...(opts.plantedBug === undefined ? {} : { nodeEnv: { WOLFSCALE_PLANTED_BUG: opts.plantedBug } }),
});
process.stdout.write(`${report.summary}\nhistory: ${report.historyPath}\n`);
const r = report.result;
process.stdout.write(
  `${JSON.stringify({
    valid: r.valid,
    nodes: Number(opts.nodes),
    duration_s: Number(opts.duration),
    seed,
    nemeses: nemeses.join(','),
    operations: r.counts.operations,
    acknowledged: r.counts.ok,
    failed: r.counts.failed,
    unknown: r.counts.unknown,
    lost: r.lost.length,
    unexpected: r.unexpected.length,
    bank_violations: r.bank.length,
    append_violations: r.append.length,
    divergence: r.divergence.length,
    faults: report.faults.length,
    unavailability_ms_max: Math.max(0, ...r.unavailability.map((u) => u.ms ?? 0)),
  })}\n`,
);
process.exit(r.valid ? 0 : 1);
