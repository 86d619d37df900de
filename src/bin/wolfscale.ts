#!/usr/bin/env node
import { Command } from '@commander-js/extra-typings';
import { packageInfo } from '../cli/package-info.js';

// Commands are added here as they start to work; until then --help lists only what works.
const program = new Command()
  .name('wolfscale')
  .description('WolfScale node: high-availability replication for MariaDB with automatic failover')
  .version(packageInfo().version, '-V, --version', 'print the version and exit')
  .helpOption('-h, --help', 'show this help');

await program.parseAsync(process.argv);
