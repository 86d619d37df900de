import { formatProblems, loadConfig } from '../config/load-config.js';
import { installDriverDestroyGuard } from '../mariadb/driver-destroy-guard.js';
import { createLogger, type LoggerOptions } from '../node/create-logger.js';
import { NodeStartError, WolfScaleNode } from '../node/wolfscale-node.js';
import type { CliIo } from './config-commands.js';
import { processIo } from './config-commands.js';

export interface StartOptions {
  readonly configPath: string;
  readonly logLevel?: LoggerOptions['level'];
  /** `--bootstrap`: accepted for the original's scripts; a new cluster needs nothing special. */
  readonly bootstrap?: boolean;
}

/**
 * `wolfscale start`: runs a node until SIGTERM or SIGINT, then stops it cleanly (handing
 * leadership over first when it leads). Exit codes: 0 after a clean stop, 1 for a configuration
 * or start-up problem (printed with what to fix), 2 when the node stopped on its own (a WAL
 * failure, a reset): a supervisor should restart it.
 */
export async function startCommand(options: StartOptions, io: CliIo = processIo): Promise<number> {
  const loaded = await loadConfig(options.configPath, { unknownKeys: 'warn' });
  if (loaded.warnings.length > 0) io.err(formatProblems(options.configPath, loaded.warnings));
  if (!loaded.ok) {
    io.err(
      `✗ cannot start: the configuration has errors:\n${formatProblems(options.configPath, loaded.errors)}`,
    );
    return 1;
  }
  const { config } = loaded;
  const logger = createLogger({
    level: options.logLevel ?? config.logging.level,
    format: config.logging.format,
    ...(config.logging.file === undefined ? {} : { file: config.logging.file }),
    base: { node: config.node.id },
  });
  installDriverDestroyGuard(logger);
  let node: WolfScaleNode;
  try {
    node = await WolfScaleNode.start({ config, logger });
  } catch (error) {
    if (error instanceof NodeStartError) {
      io.err(`✗ cannot start node ${config.node.id}:\n${error.message}`);
      logger.flush();
      return 1;
    }
    throw error;
  }
  return await new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) return;
      signalled = true;
      logger.info({ signal }, 'stopping on signal');
      void node.stop(`received ${signal}`);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    node.onStopped((reason) => {
      logger.info({ reason }, 'node stopped');
      logger.flush();
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(signalled ? 0 : 2);
    });
  });
}
