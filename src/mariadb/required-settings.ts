import { type SqlRunner, selectOne, selectRows, variableText } from './sql-runner.js';

/** What WolfScale reads from a server to decide whether it can run on it. */
export interface ObservedSettings {
  readonly logBin: string;
  readonly binlogFormat: string;
  readonly binlogRowImage: string;
  readonly gtidStrictMode: string;
  readonly syncBinlog: string;
  /** True when the server has the semi-sync master variables (built in since 10.3, else a plugin). */
  readonly semiSyncAvailable: boolean;
}

export type SettingProblemCode =
  | 'LOG_BIN_OFF'
  | 'BINLOG_FORMAT'
  | 'BINLOG_ROW_IMAGE'
  | 'GTID_STRICT_MODE'
  | 'SYNC_BINLOG'
  | 'SEMI_SYNC_UNAVAILABLE'
  /** Only with apply.mode = "replica" (checked by the node). */
  | 'LOG_SLAVE_UPDATES';

/** One setting that must change, and the config line that changes it. */
export interface SettingProblem {
  readonly code: SettingProblemCode;
  readonly variable: string;
  readonly actual: string;
  readonly required: string;
  /** The line to add under `[mariadbd]` in the config file. */
  readonly configLine: string;
  /** Says what is wrong and what to do; ready for an operator. */
  readonly message: string;
}

export interface SettingsCheckOptions {
  /** How the server is named in messages, e.g. "127.0.0.1:3306". */
  readonly serverName: string;
  /** The file an operator edits; Debian's default unless configured. */
  readonly configFile?: string;
}

export const defaultConfigFile = '/etc/mysql/mariadb.conf.d/50-server.cnf';

interface Requirement {
  readonly code: SettingProblemCode;
  readonly variable: string;
  readonly required: string;
  readonly configLine: string;
  readonly why: string;
  readonly actual: (observed: ObservedSettings) => string;
  readonly holds: (observed: ObservedSettings) => boolean;
}

const onValues = new Set(['1', 'ON']);

const requirements: readonly Requirement[] = [
  {
    code: 'LOG_BIN_OFF',
    variable: 'log_bin',
    required: 'ON',
    configLine: 'log_bin=mariadb-bin',
    why: 'the capture reads every transaction from the binlog',
    actual: (o) => o.logBin,
    holds: (o) => onValues.has(o.logBin.toUpperCase()),
  },
  {
    code: 'BINLOG_FORMAT',
    variable: 'binlog_format',
    required: 'ROW',
    configLine: 'binlog_format=ROW',
    why: 'followers replay row images; statement or mixed logging would re-execute NOW(), RAND() and UUID()',
    actual: (o) => o.binlogFormat,
    holds: (o) => o.binlogFormat.toUpperCase() === 'ROW',
  },
  {
    code: 'BINLOG_ROW_IMAGE',
    variable: 'binlog_row_image',
    required: 'FULL',
    configLine: 'binlog_row_image=FULL',
    why: 'partial row images cannot be replayed byte-identically or rewound',
    actual: (o) => o.binlogRowImage,
    holds: (o) => o.binlogRowImage.toUpperCase() === 'FULL',
  },
  {
    code: 'GTID_STRICT_MODE',
    variable: 'gtid_strict_mode',
    required: 'ON',
    configLine: 'gtid_strict_mode=ON',
    why: 'it makes the server refuse a transaction applied twice or out of order',
    actual: (o) => o.gtidStrictMode,
    holds: (o) => onValues.has(o.gtidStrictMode.toUpperCase()),
  },
  {
    code: 'SYNC_BINLOG',
    variable: 'sync_binlog',
    required: '1',
    configLine: 'sync_binlog=1',
    why: 'a commit acknowledged to a client must survive a crash of this machine',
    actual: (o) => o.syncBinlog,
    holds: (o) => o.syncBinlog === '1',
  },
  {
    code: 'SEMI_SYNC_UNAVAILABLE',
    variable: 'rpl_semi_sync_master_enabled',
    required: 'available',
    configLine: 'plugin_load_add=semisync_master',
    why: 'the leader holds commits until a quorum has them through semi-sync replication',
    actual: () => 'missing',
    holds: (o) => o.semiSyncAvailable,
  },
];

/**
 * The settings WolfScale requires that `observed` violates, in a fixed order; [] when it can run.
 * Pure: the caller reads the settings (`readObservedSettings`).
 */
export function settingsProblems(
  observed: ObservedSettings,
  options: SettingsCheckOptions,
): SettingProblem[] {
  const configFile = options.configFile ?? defaultConfigFile;
  return requirements
    .filter((requirement) => !requirement.holds(observed))
    .map((requirement) => {
      const actual = requirement.actual(observed);
      const state =
        requirement.code === 'SEMI_SYNC_UNAVAILABLE'
          ? 'has no semi-sync replication (rpl_semi_sync_master_* variables missing)'
          : `has ${requirement.variable}=${actual === '' ? '(empty)' : actual}`;
      return {
        code: requirement.code,
        variable: requirement.variable,
        actual,
        required: requirement.required,
        configLine: requirement.configLine,
        message:
          `MariaDB at ${options.serverName} ${state}; WolfScale needs ${requirement.variable}=${requirement.required} ` +
          `because ${requirement.why}: add ${requirement.configLine} under [mariadbd] in ${configFile} and restart MariaDB.`,
      };
    });
}

/** Reads the settings `settingsProblems` judges, in two statements. */
export async function readObservedSettings(runner: SqlRunner): Promise<ObservedSettings> {
  const row = await selectOne(
    runner,
    'SELECT @@GLOBAL.log_bin AS logBin, @@GLOBAL.binlog_format AS binlogFormat, ' +
      '@@GLOBAL.binlog_row_image AS binlogRowImage, @@GLOBAL.gtid_strict_mode AS gtidStrictMode, ' +
      '@@GLOBAL.sync_binlog AS syncBinlog',
  );
  const semiSync = await selectRows(runner, "SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync_master_enabled'");
  return {
    logBin: variableText(row['logBin']),
    binlogFormat: variableText(row['binlogFormat']),
    binlogRowImage: variableText(row['binlogRowImage']),
    gtidStrictMode: variableText(row['gtidStrictMode']),
    syncBinlog: variableText(row['syncBinlog']),
    semiSyncAvailable: semiSync.length === 1,
  };
}

/** Reads the server's settings and returns what must change; [] when WolfScale can run on it. */
export async function checkRequiredSettings(
  runner: SqlRunner,
  options: SettingsCheckOptions,
): Promise<SettingProblem[]> {
  return settingsProblems(await readObservedSettings(runner), options);
}
