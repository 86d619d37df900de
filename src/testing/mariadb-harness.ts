import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as mariadb from 'mariadb';
import { freePort } from './free-port.js';
import { Reaper } from './reaper.js';

/**
 * Throwaway MariaDB servers for tests, benchmarks and the playground.
 *
 * Each server gets its own data directory (a copy of one template made by
 * `mariadb-install-db`), a free TCP port on 127.0.0.1, a unix socket in its data directory, and
 * the settings WolfScale needs: `log_bin`, `binlog_format=ROW`, `gtid_strict_mode=ON`, a unique
 * `server_id`. Every process id and directory is registered with the reaper, so nothing is left
 * behind when the owner dies, however it dies.
 */

const execFileAsync = promisify(execFile);

const sbinDirs = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/mysql/bin'];
const readyPollIntervalMs = 20;
const errorLogTailBytesMax = 4000;
const stopTimeoutMs = 60_000;

export interface MariaDbBinaries {
  readonly mariadbd: string;
  readonly installDb: string;
}

/** Finds `mariadbd` and `mariadb-install-db`, or throws an error that says what to install. */
export function findMariaDbBinaries(): MariaDbBinaries {
  const pathDirs = (process.env['PATH'] ?? '').split(':').filter((dir) => dir !== '');
  const find = (name: string): string | undefined =>
    [...pathDirs, ...sbinDirs].map((dir) => join(dir, name)).find((path) => existsSync(path));
  const mariadbd = find('mariadbd');
  const installDb = find('mariadb-install-db');
  if (mariadbd === undefined || installDb === undefined) {
    throw new Error(
      `MariaDB server binaries not found (${mariadbd === undefined ? 'mariadbd' : 'mariadb-install-db'} is missing). ` +
        'Install them with: apt-get install -y mariadb-server mariadb-client',
    );
  }
  return { mariadbd, installDb };
}

function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function userName(): string {
  return runningAsRoot() ? 'root' : (process.env['USER'] ?? 'root');
}

/** A server's own tmpdir, beside its data directory (see `MariaDbServer.tmpDir`). */
function tmpDirOf(dataDir: string): string {
  return `${dataDir}-tmp`;
}

/**
 * Initialises a data directory with `mariadb-install-db` (root with an empty password, no test
 * database). Copies of it start in about a fifth of the time a fresh initialisation takes.
 */
export async function createTemplateDataDir(dir: string): Promise<string> {
  const { installDb } = findMariaDbBinaries();
  await mkdir(dir, { recursive: true });
  const tmpDir = tmpDirOf(dir);
  await mkdir(tmpDir, { recursive: true });
  try {
    await execFileAsync(installDb, [
      '--no-defaults',
      `--datadir=${dir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      `--user=${userName()}`,
      // Passed on to the bootstrap server: see `tmpDir` in MariaDbServer.
      `--tmpdir=${tmpDir}`,
    ]);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`mariadb-install-db failed for ${dir}: ${detail}`);
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  return dir;
}

export interface MariaDbServerOptions {
  /** `server_id`; must be unique among servers that replicate with each other. */
  readonly serverId: number;
  /** Where this server's data directory is created (a copy of `templateDir`). */
  readonly dataDir: string;
  readonly templateDir: string;
  /** A fixed port, e.g. for the playground; default: a free one. */
  readonly port?: number;
  /**
   * Durable settings (`sync_binlog=1`, `innodb_flush_log_at_trx_commit=1`): for crash tests and
   * benchmarks. Default false: tests that only need a working server run faster without fsyncs.
   */
  readonly durable?: boolean;
  /** More `mariadbd` options, e.g. `--rpl-semi-sync-master-enabled=ON`. */
  readonly extraArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
}

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** One throwaway `mariadbd`. */
export class MariaDbServer {
  readonly serverId: number;
  readonly dataDir: string;
  /**
   * The server's own `tmpdir`, beside its data directory. A MariaDB starting up removes every
   * `#sql*` file in its tmpdir: with /tmp shared, a server starting deleted the temporary tables
   * of another one running (two chaos runs started together: mariadb-install-db failed with
   * "Could not remove temporary table … Unknown table 'mysql.tmp_user_sys'").
   */
  readonly tmpDir: string;
  readonly socketPath: string;
  readonly errorLogPath: string;
  readonly #options: MariaDbServerOptions;
  #port: number;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(options: MariaDbServerOptions, port: number) {
    this.#options = options;
    this.serverId = options.serverId;
    this.dataDir = options.dataDir;
    this.socketPath = join(options.dataDir, 'mariadb.sock');
    this.errorLogPath = join(options.dataDir, 'error.log');
    this.tmpDir = tmpDirOf(options.dataDir);
    this.#port = port;
  }

  /** Copies the template into a new data directory and starts the server. */
  static async create(options: MariaDbServerOptions): Promise<MariaDbServer> {
    const reaper = Reaper.shared();
    reaper.watchDir(options.dataDir);
    reaper.watchDir(tmpDirOf(options.dataDir));
    await cp(options.templateDir, options.dataDir, { recursive: true });
    const server = new MariaDbServer(options, options.port ?? (await freePort()));
    await server.start();
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** The running server's process id, or undefined when it is not running. */
  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  /** Root over TCP: the account the harness created, with an empty password. */
  connectOptions(): ConnectOptions {
    return { host: '127.0.0.1', port: this.#port, user: 'root', password: '' };
  }

  /**
   * Opens a `mariadb` driver connection as root; the caller ends it. BIGINT values come back as
   * numbers (the driver's default is BigInt), which is what tests compare against.
   */
  async connect(options: mariadb.ConnectionConfig = {}): Promise<mariadb.Connection> {
    return await mariadb.createConnection({
      ...this.connectOptions(),
      bigIntAsNumber: true,
      insertIdAsNumber: true,
      ...options,
    });
  }

  /** Runs one statement on a short-lived root connection. */
  async query<T = unknown>(sql: string, values?: unknown): Promise<T> {
    const connection = await this.connect();
    try {
      return (await connection.query(sql, values)) as T;
    } finally {
      await connection.end();
    }
  }

  /** Starts `mariadbd` on the existing data directory and waits until it answers. */
  async start(): Promise<void> {
    if (this.pid !== undefined) throw new Error(`MariaDB server ${this.serverId} is already running`);
    const { mariadbd } = findMariaDbBinaries();
    await mkdir(this.tmpDir, { recursive: true });
    const durable = this.#options.durable ?? false;
    const args = [
      '--no-defaults',
      `--datadir=${this.dataDir}`,
      `--tmpdir=${this.tmpDir}`,
      `--port=${this.#port}`,
      '--bind-address=127.0.0.1',
      `--socket=${this.socketPath}`,
      `--pid-file=${join(this.dataDir, 'mariadbd.pid')}`,
      `--log-error=${this.errorLogPath}`,
      `--user=${userName()}`,
      `--server-id=${this.serverId}`,
      `--log-bin=${join(this.dataDir, 'binlog')}`,
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--gtid-strict-mode=ON',
      '--innodb-buffer-pool-size=64M',
      '--innodb-log-file-size=48M',
      '--max-allowed-packet=256M',
      '--skip-name-resolve',
      '--max-connections=500',
      `--sync-binlog=${durable ? 1 : 0}`,
      `--innodb-flush-log-at-trx-commit=${durable ? 1 : 2}`,
      ...(this.#options.extraArgs ?? []),
    ];
    // detached: a Ctrl+C at the terminal must not reach the server directly; the owner or the
    // reaper stops it.
    const child = spawn(mariadbd, args, { detached: true, stdio: 'ignore' });
    child.unref();
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    if (child.pid !== undefined) Reaper.shared().watchPid(child.pid);
    await this.#waitReady(child);
  }

  async #waitReady(child: ChildProcess): Promise<void> {
    const timeoutMs = this.#options.readyTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let lastError = 'no attempt yet';
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `MariaDB server ${this.serverId} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}). ` +
            `Its error log ${this.errorLogPath} ends with:\n${await this.errorLogTail()}`,
        );
      }
      try {
        const connection = await mariadb.createConnection({ ...this.connectOptions(), connectTimeout: 1000 });
        await connection.end();
        return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
      }
      await new Promise((resolve) => setTimeout(resolve, readyPollIntervalMs));
    }
    throw new Error(
      `MariaDB server ${this.serverId} on port ${this.#port} was not ready within ${timeoutMs} ms ` +
        `(last error: ${lastError}). Its error log ${this.errorLogPath} ends with:\n${await this.errorLogTail()}`,
    );
  }

  /** The last few KiB of the server's error log, for failure messages. */
  async errorLogTail(): Promise<string> {
    try {
      const text = await readFile(this.errorLogPath, 'utf8');
      return text.slice(-errorLogTailBytesMax);
    } catch {
      return '(no error log)';
    }
  }

  /** SIGKILL, as a crash would; the data directory stays, so `start()` recovers it. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL');
  }

  /** SIGTERM and wait: a clean shutdown; the data directory stays. */
  async stop(): Promise<void> {
    await this.#signal('SIGTERM');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Kills the server and removes its data directory. */
  async destroy(): Promise<void> {
    await this.kill();
    await rm(this.dataDir, { recursive: true, force: true });
    await rm(this.tmpDir, { recursive: true, force: true });
    Reaper.shared().forgetDir(this.dataDir);
    Reaper.shared().forgetDir(this.tmpDir);
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    this.#child?.kill(signal);
    // The child is unref'd, so this timer is what keeps the owner's event loop alive while it
    // waits; a server that ignores SIGTERM for that long is killed.
    let timer: NodeJS.Timeout | undefined;
    const escalate = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#child?.kill('SIGKILL');
        resolve();
      }, stopTimeoutMs);
    });
    await Promise.race([this.#exited, escalate]);
    clearTimeout(timer);
    await this.#exited;
    Reaper.shared().forgetPid(pid);
  }
}

export interface MariaDbSetOptions {
  readonly count: number;
  /** A template made by `createTemplateDataDir`; default: one is made under `rootDir`. */
  readonly templateDir?: string;
  /** Where the data directories go; default: a new directory under the system temp dir. */
  readonly rootDir?: string;
  /** `server_id` of the first server; the others count up from it. Default 1. */
  readonly serverIdBase?: number;
  readonly durable?: boolean;
  readonly extraArgs?: readonly string[];
  readonly readyTimeoutMs?: number;
}

/** K servers started together, destroyed together. */
export class MariaDbSet {
  readonly servers: readonly MariaDbServer[];
  readonly rootDir: string;

  private constructor(servers: readonly MariaDbServer[], rootDir: string) {
    this.servers = servers;
    this.rootDir = rootDir;
  }

  static async start(options: MariaDbSetOptions): Promise<MariaDbSet> {
    const rootDir = options.rootDir ?? (await mkdtemp(join(tmpdir(), 'wolfscale-mariadb-')));
    await mkdir(rootDir, { recursive: true });
    Reaper.shared().watchDir(rootDir);
    const templateDir = options.templateDir ?? (await createTemplateDataDir(join(rootDir, 'template')));
    const serverIdBase = options.serverIdBase ?? 1;
    const started = await Promise.allSettled(
      Array.from({ length: options.count }, (_, i) =>
        MariaDbServer.create({
          serverId: serverIdBase + i,
          dataDir: join(rootDir, `server-${serverIdBase + i}`),
          templateDir,
          ...(options.durable === undefined ? {} : { durable: options.durable }),
          ...(options.extraArgs === undefined ? {} : { extraArgs: options.extraArgs }),
          ...(options.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: options.readyTimeoutMs }),
        }),
      ),
    );
    const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failure = started.find((result) => result.status === 'rejected');
    const set = new MariaDbSet(servers, rootDir);
    if (failure !== undefined) {
      await set.destroy();
      throw failure.reason;
    }
    return set;
  }

  /** Kills every server and removes every directory this set created. */
  async destroy(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.destroy()));
    await rm(this.rootDir, { recursive: true, force: true });
    Reaper.shared().forgetDir(this.rootDir);
  }
}
