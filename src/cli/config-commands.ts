import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { type ConfigResult, formatProblems, loadConfig, parseConfig } from '../config/load-config.js';
import type { ConfigFile } from '../config/schema.js';
import { type ConfigAnswers, renderConfig } from './config-template.js';

/** Output streams and terminal facts, injected so the commands can be tested in-process. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

function quorumSize(config: ConfigFile): number {
  return Math.floor((config.cluster.peers.length + 1) / 2) + 1;
}

function databaseLabel(config: ConfigFile): string {
  const { user, host, port, socket, database } = config.database;
  return `${user}@${socket ?? `${host}:${port}`}/${database ?? '(all)'}`;
}

function reportWarnings(path: string, result: ConfigResult, io: CliIo): void {
  if (result.warnings.length > 0) io.err(formatProblems(path, result.warnings.map(warning)));
}

function warning<T extends { message: string }>(problem: T): T {
  return { ...problem, message: `warning: ${problem.message}` };
}

/** `wolfscale validate`: exit code 0 when the file is valid, 1 otherwise. */
export async function validateCommand(path: string, io: CliIo = processIo): Promise<number> {
  const result = await loadConfig(path);
  reportWarnings(path, result, io);
  if (!result.ok) {
    io.err(`✗ Configuration error in ${path}:\n${formatProblems(path, result.errors)}`);
    return 1;
  }
  const { config } = result;
  io.out(
    [
      '✓ Configuration is valid',
      `  Node ID:       ${config.node.id}`,
      `  Bind Address:  ${config.node.bind_address}`,
      `  Database:      ${databaseLabel(config)}`,
      `  Peers:         ${config.cluster.peers.length}`,
      `  Quorum Size:   ${quorumSize(config)}`,
    ].join('\n'),
  );
  return 0;
}

/** `wolfscale info`: what this node's configuration resolves to, defaults included. */
export async function infoCommand(path: string, io: CliIo = processIo): Promise<number> {
  const result = await loadConfig(path, { unknownKeys: 'warn' });
  reportWarnings(path, result, io);
  if (!result.ok) {
    io.err(formatProblems(path, result.errors));
    return 1;
  }
  const { node, database, wal, cluster, api, proxy } = result.config;
  const onOff = (flag: boolean): string => (flag ? 'on' : 'off');
  io.out(
    [
      'WolfScale Node Information',
      `  Node ID:            ${node.id}`,
      `  Bind Address:       ${node.bind_address}`,
      `  Advertise Address:  ${node.advertise_address ?? node.bind_address}`,
      `  Data Dir:           ${node.data_dir}`,
      'Database',
      `  Host:               ${database.socket ?? `${database.host}:${database.port}`}`,
      `  User / Database:    ${database.user} / ${database.database ?? '(all)'}`,
      `  Pool Size:          ${database.pool_size}`,
      'WAL',
      `  Batch Size:         ${wal.batch_size} entries, ${wal.flush_interval_ms} ms`,
      `  Compression:        ${onOff(wal.compression)}`,
      `  Segment Size:       ${wal.segment_size_mb} MiB`,
      `  Fsync:              ${onOff(wal.fsync)}${wal.fsync ? '' : ' (UNSAFE: a power loss can lose acknowledged writes)'}`,
      `  Retention:          ${wal.retention_hours} h`,
      'Cluster',
      `  Name:               ${cluster.cluster_name}`,
      `  Peers:              ${cluster.peers.length === 0 ? '(none)' : cluster.peers.join(', ')}`,
      `  Quorum:             ${quorumSize(result.config)} of ${cluster.peers.length + 1}`,
      `  Heartbeat:          ${cluster.heartbeat_interval_ms} ms`,
      `  Election Timeout:   ${cluster.election_timeout_ms} ms`,
      `  Never Leader:       ${cluster.never_leader ? 'yes' : 'no'}`,
      `  Failback:           ${onOff(cluster.failback)}`,
      'Endpoints',
      `  HTTP API:           ${api.enabled ? api.bind_address : 'disabled'}${api.token === undefined ? ' (no token: writes and admin refused)' : ''}`,
      `  MySQL Proxy:        ${proxy.enabled ? proxy.bind_address : 'disabled'}${proxy.tls_cert === undefined ? '' : ' (TLS)'}`,
    ].join('\n'),
  );
  return 0;
}

export interface InitOptions {
  readonly output: string;
  readonly force: boolean;
  /** Ask on the terminal for what the flags did not give. */
  readonly interactive: boolean;
  readonly nodeId?: string;
  readonly bindAddress?: string;
  readonly advertiseAddress?: string;
  readonly dataDir?: string;
  readonly databaseHost?: string;
  readonly databasePort?: number;
  readonly databaseUser?: string;
  readonly databasePassword?: string;
  readonly peers?: readonly string[];
  readonly clusterName?: string;
  readonly secret?: string;
}

function defaults(options: InitOptions): ConfigAnswers {
  const nodeId = options.nodeId ?? 'node-1';
  return {
    nodeId,
    bindAddress: options.bindAddress ?? '0.0.0.0:7654',
    ...(options.advertiseAddress === undefined ? {} : { advertiseAddress: options.advertiseAddress }),
    dataDir: options.dataDir ?? `/var/lib/wolfscale/${nodeId}`,
    databaseHost: options.databaseHost ?? '127.0.0.1',
    databasePort: options.databasePort ?? 3306,
    databaseUser: options.databaseUser ?? 'wolfscale',
    databasePassword: options.databasePassword ?? '',
    peers: options.peers ?? [],
    clusterName: options.clusterName ?? 'wolfscale',
    secret: options.secret ?? randomBytes(24).toString('hex'),
    apiToken: randomBytes(24).toString('hex'),
  };
}

async function ask(base: ConfigAnswers): Promise<ConfigAnswers> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const question = async (label: string, current: string): Promise<string> =>
      (await rl.question(`${label}${current === '' ? '' : ` [${current}]`}: `)).trim() || current;
    const nodeId = await question('Node id', base.nodeId);
    const bindAddress = await question('Cluster bind address', base.bindAddress);
    const advertiseAddress = await question(
      'Address other nodes dial (host:port)',
      base.advertiseAddress ?? '',
    );
    const peers = await question(
      'Peers, comma-separated host:port (empty for the first node)',
      base.peers.join(','),
    );
    const databaseHost = await question('MariaDB host', base.databaseHost);
    const databasePort = Number(await question('MariaDB port', String(base.databasePort)));
    const databaseUser = await question('MariaDB user for WolfScale', base.databaseUser);
    const databasePassword = await question('MariaDB password', base.databasePassword);
    const secret = await question('Cluster secret (the same on every node)', base.secret);
    return {
      ...base,
      nodeId,
      bindAddress,
      ...(advertiseAddress === '' ? {} : { advertiseAddress }),
      peers: peers === '' ? [] : peers.split(',').map((peer) => peer.trim()),
      databaseHost,
      databasePort,
      databaseUser,
      databasePassword,
      secret,
      dataDir: base.dataDir.endsWith(`/${base.nodeId}`)
        ? base.dataDir.replace(/[^/]+$/, nodeId)
        : base.dataDir,
    };
  } finally {
    rl.close();
  }
}

/** `wolfscale init`: writes a commented configuration file (mode 0600: it holds secrets). */
export async function initCommand(options: InitOptions, io: CliIo = processIo): Promise<number> {
  if (existsSync(options.output) && !options.force) {
    io.err(`${options.output} already exists: pass --force to overwrite it, or -o to write elsewhere`);
    return 1;
  }
  const answers = options.interactive ? await ask(defaults(options)) : defaults(options);
  const text = renderConfig(answers);
  const checked = parseConfig(text);
  if (!checked.ok) {
    io.err(
      `the answers do not make a valid configuration:\n${formatProblems(options.output, checked.errors)}`,
    );
    return 1;
  }
  await writeFile(options.output, text, { mode: 0o600 });
  io.out(
    [
      `Configuration file created: ${options.output}`,
      `  Review it, then check it:  wolfscale validate -c ${options.output}`,
    ].join('\n'),
  );
  if (answers.databasePassword === '') io.err('warning: database.password is empty; set it before starting');
  return 0;
}
