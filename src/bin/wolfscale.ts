#!/usr/bin/env node
import { Command, Option } from '@commander-js/extra-typings';
import { infoCommand, initCommand, validateCommand } from '../cli/config-commands.js';
import { packageInfo } from '../cli/package-info.js';
import { defaultConfigPath } from '../config/load-config.js';

// Commands are added here as they start to work; --help lists only what works.
const program = new Command()
  .name('wolfscale')
  .description('WolfScale node: high-availability replication for MariaDB with automatic failover')
  .version(packageInfo().version, '-V, --version', 'print the version and exit')
  .helpOption('-h, --help', 'show this help')
  .option('-c, --config <file>', 'configuration file', defaultConfigPath);

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

await program.parseAsync(process.argv);
