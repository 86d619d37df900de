#!/usr/bin/env node
import { Command, Option } from '@commander-js/extra-typings';
import { infoCommand, initCommand, validateCommand } from '../cli/config-commands.js';
import { packageInfo } from '../cli/package-info.js';
import { runPlayground } from '../cli/playground-command.js';
import { proxyCommand } from '../cli/proxy-command.js';
import { startCommand } from '../cli/start-command.js';
import { defaultConfigPath } from '../config/load-config.js';

// Commands are added here as they start to work; --help lists only what works.
const program = new Command()
  .name('wolfscale')
  .description('WolfScale node: high-availability replication for MariaDB with automatic failover')
  .version(packageInfo().version, '-V, --version', 'print the version and exit')
  .helpOption('-h, --help', 'show this help')
  .option('-c, --config <file>', 'configuration file', defaultConfigPath)
  .addOption(
    new Option('-l, --log-level <level>', 'log level (overrides logging.level)').choices([
      'trace',
      'debug',
      'info',
      'warn',
      'error',
      'fatal',
    ] as const),
  );

program
  .command('start')
  .description('run this node (until SIGTERM/SIGINT; leadership is handed over first)')
  .option('--bootstrap', "accepted for the original's scripts; a new cluster needs no bootstrap")
  .action(async (options) => {
    const { config, logLevel } = program.opts();
    process.exitCode = await startCommand({
      configPath: config,
      ...(logLevel === undefined ? {} : { logLevel }),
      ...(options.bootstrap === undefined ? {} : { bootstrap: options.bootstrap }),
    });
  });

program
  .command('proxy')
  .description(
    'run a MySQL proxy outside the node process, in front of the node the configuration file describes (follows it through its HTTP API)',
  )
  .requiredOption('--listen <host:port>', 'where clients connect, e.g. 127.0.0.1:8008')
  .action(async (options) => {
    const { config, logLevel } = program.opts();
    process.exitCode = await proxyCommand({
      configPath: config,
      listen: options.listen,
      ...(logLevel === undefined ? {} : { logLevel }),
    });
  });

program
  .command('validate')
  .description(
    'check the configuration file: syntax, unknown keys, types, ranges, peers; exit 1 when invalid',
  )
  .action(async () => {
    process.exitCode = await validateCommand(program.opts().config);
  });

program
  .command('info')
  .description('print what the configuration resolves to, defaults included')
  .action(async () => {
    process.exitCode = await infoCommand(program.opts().config);
  });

program
  .command('init')
  .description('write a commented configuration file (asks on a terminal; flags for scripts)')
  .option('-o, --output <file>', 'where to write it', 'wolfscale.toml')
  .option('--node-id <id>', "this node's id", 'node-1')
  .option('--bind <host:port>', 'cluster bind address')
  .option('--advertise <host:port>', 'the address other nodes dial')
  .option('--data-dir <dir>', 'data directory (WAL, hard state)')
  .option('--peers <list>', 'other nodes, comma-separated host:port or id@host:port')
  .option('--cluster-name <name>', 'cluster name')
  .option('--secret <secret>', 'cluster secret (default: a new random one)')
  .option('--db-host <host>', 'MariaDB host')
  .addOption(new Option('--db-port <port>', 'MariaDB port').argParser((v) => Number.parseInt(v, 10)))
  .option('--db-user <user>', 'MariaDB user for WolfScale')
  .addOption(
    new Option(
      '--db-password <password>',
      'MariaDB password (visible in ps; prefer the prompt or the env)',
    ).env('WOLFSCALE_DB_PASSWORD'),
  )
  .option('-y, --non-interactive', 'do not ask; use flags and defaults')
  .option('-f, --force', 'overwrite an existing file')
  .action(async (options) => {
    process.exitCode = await initCommand({
      output: options.output,
      force: options.force === true,
      interactive: options.nonInteractive !== true && process.stdin.isTTY === true,
      nodeId: options.nodeId,
      ...(options.bind === undefined ? {} : { bindAddress: options.bind }),
      ...(options.advertise === undefined ? {} : { advertiseAddress: options.advertise }),
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.peers === undefined ? {} : { peers: options.peers.split(',').map((peer) => peer.trim()) }),
      ...(options.clusterName === undefined ? {} : { clusterName: options.clusterName }),
      ...(options.secret === undefined ? {} : { secret: options.secret }),
      ...(options.dbHost === undefined ? {} : { databaseHost: options.dbHost }),
      ...(options.dbPort === undefined ? {} : { databasePort: options.dbPort }),
      ...(options.dbUser === undefined ? {} : { databaseUser: options.dbUser }),
      ...(options.dbPassword === undefined ? {} : { databasePassword: options.dbPassword }),
    });
  });

program
  .command('playground')
  .description('start a local cluster: N MariaDB servers and N nodes, until Ctrl+C; then remove it all')
  .addOption(
    new Option('-n, --nodes <count>', 'number of nodes (1-7)')
      .default(3)
      .argParser((v) => Number.parseInt(v, 10)),
  )
  .option('--dir <dir>', 'where to put everything (default: a new temporary directory); removed at exit')
  .addOption(
    new Option(
      '--base-port <port>',
      'fixed ports: cluster P+i, API P+100+i, proxy P+200+i, MariaDB P+300+i',
    ).argParser((v) => Number.parseInt(v, 10)),
  )
  .option('--json', 'print one JSON line per node once the cluster has a writable leader')
  .addOption(
    new Option(
      '--apply-mode <mode>',
      "how followers apply: WolfScale's sessions or MariaDB's own replication",
    )
      .choices(['session', 'replica'])
      .default('replica'),
  )
  .action(async (options) => {
    process.exitCode = await runPlayground({
      nodes: options.nodes,
      json: options.json === true,
      applyConfig: `mode = "${options.applyMode}"`,
      ...(options.dir === undefined ? {} : { dir: options.dir }),
      ...(options.basePort === undefined ? {} : { basePort: options.basePort }),
    });
  });

await program.parseAsync(process.argv);
