import type { BinlogChecksumAlgorithm } from '../protocol/binlog/binlog-checksum.js';
import { CaptureConfigError } from './capture-errors.js';
import type { MysqlClient } from './mysql-client.js';

/** What the capture learns about its source at start. */
export interface SourceInfo {
  readonly version: string;
  readonly serverId: number;
  readonly checksum: BinlogChecksumAlgorithm;
  /** `@@gtid_binlog_pos`: where a capture with no start position begins. */
  readonly gtidBinlogPosition: string;
}

/**
 * Checks that the source can be captured and says what to fix when it cannot: binary log on,
 * ROW format with FULL row images, the account's privileges, semi-sync primary enabled (when the
 * capture acknowledges). Throws CaptureConfigError; the caller must not retry it.
 */
export async function checkSource(
  client: MysqlClient,
  options: { readonly where: string; readonly semiSync: boolean; readonly replicaServerId: number },
): Promise<SourceInfo> {
  const row = await client.queryRow(
    'SELECT @@version AS version, @@server_id AS serverId, @@log_bin AS logBin, @@binlog_format AS binlogFormat, ' +
      '@@binlog_row_image AS rowImage, @@global.binlog_checksum AS checksum, @@gtid_binlog_pos AS gtidPos, ' +
      '@@rpl_semi_sync_master_enabled AS semiSync, CURRENT_USER() AS account',
  );
  const where = options.where;
  if (row['logBin'] !== '1') {
    throw new CaptureConfigError(
      `MariaDB at ${where} has the binary log disabled; WolfScale captures from it: set log_bin=<path> (and server_id) in the server config and restart it.`,
    );
  }
  if (row['binlogFormat'] !== 'ROW') {
    throw new CaptureConfigError(
      `MariaDB at ${where} has binlog_format=${row['binlogFormat']}; WolfScale needs ROW: set binlog_format=ROW in the server config and restart it.`,
    );
  }
  if (row['rowImage'] !== 'FULL') {
    throw new CaptureConfigError(
      `MariaDB at ${where} has binlog_row_image=${row['rowImage']}; WolfScale needs FULL: set binlog_row_image=FULL in the server config and restart it.`,
    );
  }
  const serverId = Number(row['serverId']);
  if (serverId === options.replicaServerId) {
    throw new CaptureConfigError(
      `MariaDB at ${where} has server_id=${serverId}, the same id the capture registers with; give the capture another replicaServerId.`,
    );
  }
  await checkPrivileges(client, where, row['account'] ?? 'the capture account');
  if (options.semiSync && row['semiSync'] !== '1') {
    throw new CaptureConfigError(
      `MariaDB at ${where} has rpl_semi_sync_master_enabled=OFF, so commits would not wait for WolfScale: ` +
        'set rpl_semi_sync_master_enabled=ON and rpl_semi_sync_master_wait_point=AFTER_SYNC (SET GLOBAL or the server config).',
    );
  }
  const checksumName = (row['checksum'] ?? '').toUpperCase();
  if (checksumName !== 'CRC32' && checksumName !== 'NONE') {
    throw new CaptureConfigError(
      `MariaDB at ${where} has binlog_checksum=${checksumName}; WolfScale reads CRC32 or NONE.`,
    );
  }
  return {
    version: row['version'] ?? '',
    serverId,
    checksum: checksumName === 'CRC32' ? 'crc32' : 'none',
    gtidBinlogPosition: row['gtidPos'] ?? '',
  };
}

/** REPLICATION SLAVE (to dump the binlog) and BINLOG MONITOR (to read binlog status) are needed. */
async function checkPrivileges(client: MysqlClient, where: string, account: string): Promise<void> {
  const grants = await client.query('SHOW GRANTS FOR CURRENT_USER()');
  const text =
    grants.kind === 'rows'
      ? grants.rows
          .map((row) => row[0] ?? '')
          .join('\n')
          .toUpperCase()
      : '';
  const grantLine = text.split('\n').find((line) => line.includes(' ON *.* '));
  const global = grantLine ?? '';
  if (global.includes('ALL PRIVILEGES')) return;
  const missing = ['REPLICATION SLAVE', 'BINLOG MONITOR'].filter((privilege) => !global.includes(privilege));
  if (missing.length > 0) {
    throw new CaptureConfigError(
      `the account ${account} on MariaDB at ${where} lacks ${missing.join(' and ')}: ` +
        `GRANT ${missing.join(', ')} ON *.* TO ${account.replace(/^([^@]*)@(.*)$/, "'$1'@'$2'")}`,
    );
  }
}
