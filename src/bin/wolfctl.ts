#!/usr/bin/env node
import { Command } from '@commander-js/extra-typings';
import { validateCommand } from '../cli/config-commands.js';
import { packageInfo } from '../cli/package-info.js';
import { defaultConfigPath } from '../config/load-config.js';

// Commands are added here as they start to work; --help lists only what works.
const program = new Command()
  .name('wolfctl')
  .description('Control a WolfScale cluster through the HTTP API of any node')
  .version(packageInfo().version, '-V, --version', 'print the version and exit')
  .helpOption('-h, --help', 'show this help')
  .option('-c, --config <file>', 'configuration file (for the API address and token)', defaultConfigPath);

program
  .command('check-config')
  .description('check a configuration file; exit 1 when invalid')
  .option('-f, --file <file>', 'the file to check (default: the -c file)')
  .action(async (options) => {
    process.exitCode = await validateCommand(options.file ?? program.opts().config);
  });

await program.parseAsync(process.argv);
