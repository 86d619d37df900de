#!/usr/bin/env node
import { Command, Option } from '@commander-js/extra-typings';
import { ApiClient, endpointFromBindAddress } from '../cli/api-client.js';
import { validateCommand } from '../cli/config-commands.js';
import { packageInfo } from '../cli/package-info.js';
import {
  demoteCommand,
  listServersCommand,
  promoteCommand,
  resetCommand,
  statsCommand,
  statusCommand,
} from '../cli/wolfctl-commands.js';
import { defaultConfigPath, loadConfig } from '../config/load-config.js';

const program = new Command()
  .name('wolfctl')
  .description('Control a WolfScale cluster through the HTTP API of any node')
  .version(packageInfo().version, '-V, --version', 'print the version and exit')
  .helpOption('-h, --help', 'show this help')
  .option('-c, --config <file>', 'configuration file (for the API address and token)', defaultConfigPath)
  .option(
    '-e, --endpoint <url>',
    'the API of any node, e.g. http://10.0.0.1:8080 (default: from the config file)',
  )
  .addOption(
    new Option('-t, --token <token>', 'API token (default: api.token from the config file)').env(
      'WOLFSCALE_API_TOKEN',
    ),
  );

/**
 * The API client for the global options: -e and -t win; otherwise the config file's api
 * address and token; otherwise http://127.0.0.1:8080 without a token.
 */
async function client(): Promise<{ client: ApiClient; token?: string }> {
  const { config, endpoint, token } = program.opts();
  const loaded = await loadConfig(config, { unknownKeys: 'warn' });
  const fromFile = loaded.ok ? loaded.config.api : undefined;
  const resolvedToken = token ?? fromFile?.token;
  const resolvedEndpoint =
    endpoint ??
    (fromFile === undefined ? 'http://127.0.0.1:8080' : endpointFromBindAddress(fromFile.bind_address));
  return {
    client: new ApiClient({
      endpoint: resolvedEndpoint,
      ...(resolvedToken === undefined ? {} : { token: resolvedToken }),
    }),
    ...(resolvedToken === undefined ? {} : { token: resolvedToken }),
  };
}

const plainIo = {
  out: (text: string) => process.stdout.write(`${text}\n`),
  err: (text: string) => process.stderr.write(`${text}\n`),
};

const color = process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined;

/** Runs a command; any error becomes "Error: <message>" and exit code 1, as the original did. */
async function run(action: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await action();
  } catch (error) {
    process.stderr.write(`Error: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

program
  .command('list')
  .description('list cluster members')
  .argument('<what>', 'what to list: servers')
  .option('--json', 'print JSON')
  .action((what, options) =>
    run(async () => {
      if (what !== 'servers') throw new Error(`cannot list "${what}": try \`wolfctl list servers\``);
      return await listServersCommand(
        (await client()).client,
        { json: options.json === true, color },
        plainIo,
      );
    }),
  );

program
  .command('status')
  .description("this node's role, term, indexes, lag and health")
  .option('--json', 'print JSON')
  .action((options) =>
    run(async () => statusCommand((await client()).client, { json: options.json === true, color }, plainIo)),
  );

program
  .command('stats')
  .description('live view, redrawn every second: role, index, writes/s, nodes, follower lag (Ctrl+C exits)')
  .option('--json', 'print one JSON line per second instead of redrawing')
  .action((options) =>
    run(async () => {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      return await statsCommand(
        (await client()).client,
        { json: options.json === true, color, intervalMs: 1000, signal: controller.signal },
        plainIo,
      );
    }),
  );

program
  .command('promote')
  .description('make the node behind -e the leader (a transfer, run by the current leader)')
  .option(
    '--force',
    'for a lost majority only: make this node leader without a quorum (may lose writes; says which)',
  )
  .action((options) =>
    run(async () => promoteCommand((await client()).client, options.force === true, plainIo)),
  );

program
  .command('demote')
  .description('the leader hands leadership to the next eligible node')
  .action(() => run(async () => demoteCommand((await client()).client, plainIo)));

program
  .command('reset')
  .description("delete every node's WAL (keeps terms and votes); each node must then be restarted")
  .option('-f, --force', 'do not ask for confirmation')
  .action((options) =>
    run(async () => {
      const { client: api, token } = await client();
      return await resetCommand(
        api,
        { force: options.force === true, ...(token === undefined ? {} : { token }) },
        plainIo,
      );
    }),
  );

program
  .command('check-config')
  .description('check a configuration file; exit 1 when invalid')
  .option('-f, --file <file>', 'the file to check (default: the -c file)')
  .action((options) => run(async () => validateCommand(options.file ?? program.opts().config)));

await program.parseAsync(process.argv);
