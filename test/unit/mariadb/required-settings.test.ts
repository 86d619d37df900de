import { describe, expect, test } from 'vitest';
import { type ObservedSettings, settingsProblems } from '../../../src/mariadb/required-settings.js';

const good: ObservedSettings = {
  logBin: '1',
  binlogFormat: 'ROW',
  binlogRowImage: 'FULL',
  gtidStrictMode: 'ON',
  syncBinlog: '1',
  semiSyncAvailable: true,
};

describe('required settings', () => {
  test('a correctly configured server has no problems', () => {
    expect(settingsProblems(good, { serverName: '127.0.0.1:3306' })).toEqual([]);
  });

  test('each violated setting names the config line, section and file to fix it', () => {
    const problems = settingsProblems(
      { ...good, binlogFormat: 'MIXED', syncBinlog: '0', semiSyncAvailable: false },
      { serverName: 'db1:3306', configFile: '/etc/my.cnf' },
    );
    expect(problems.map((p) => p.code)).toEqual(['BINLOG_FORMAT', 'SYNC_BINLOG', 'SEMI_SYNC_UNAVAILABLE']);
    expect(problems[0]?.message).toMatch(
      /^MariaDB at db1:3306 has binlog_format=MIXED; WolfScale needs binlog_format=ROW because .*: add binlog_format=ROW under \[mariadbd\] in \/etc\/my\.cnf and restart MariaDB\.$/,
    );
    expect(problems[2]?.configLine).toBe('plugin_load_add=semisync_master');
  });

  test('every requirement is checked', () => {
    const problems = settingsProblems(
      {
        logBin: '0',
        binlogFormat: 'STATEMENT',
        binlogRowImage: 'MINIMAL',
        gtidStrictMode: 'OFF',
        syncBinlog: '0',
        semiSyncAvailable: false,
      },
      { serverName: 'x' },
    );
    expect(problems.map((p) => p.variable)).toEqual([
      'log_bin',
      'binlog_format',
      'binlog_row_image',
      'gtid_strict_mode',
      'sync_binlog',
      'rpl_semi_sync_master_enabled',
    ]);
    expect(problems.every((p) => p.message.includes('/etc/mysql/mariadb.conf.d/50-server.cnf'))).toBe(true);
  });
});
