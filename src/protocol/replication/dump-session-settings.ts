import type { BinlogChecksumAlgorithm } from '../binlog/binlog-checksum.js';
import { assert } from '../decoded.js';
import { formatGtidPosition, type Gtid } from '../gtid.js';

/** MariaDB's replica capability level for GTID-aware replicas (MARIA_SLAVE_CAPABILITY_GTID). */
export const mariadbSlaveCapabilityGtid = 4;

export interface DumpSessionSettings {
  /** Where to start: the GTID of the last transaction already captured, one per domain; [] = from the start. */
  readonly gtidPosition: readonly Gtid[];
  /** The source's `@@global.binlog_checksum`, announced so events arrive with it. */
  readonly checksum: BinlogChecksumAlgorithm;
  /** How long the primary may stay silent before it sends a HEARTBEAT event. */
  readonly heartbeatPeriodMs: number;
  /** Ask the primary to treat this connection as a semi-sync replica. */
  readonly semiSync: boolean;
}

/**
 * The statements a replica runs on its dump connection before COM_BINLOG_DUMP. The GTID position
 * is built from parsed GTIDs, never from caller text, so it cannot inject SQL.
 */
export function dumpSessionStatements(settings: DumpSessionSettings): string[] {
  assert(
    Number.isInteger(settings.heartbeatPeriodMs) && settings.heartbeatPeriodMs > 0,
    'heartbeat period is positive',
  );
  return [
    `SET @master_binlog_checksum = '${settings.checksum === 'crc32' ? 'CRC32' : 'NONE'}'`,
    `SET @mariadb_slave_capability = ${mariadbSlaveCapabilityGtid}`,
    `SET @slave_connect_state = '${formatGtidPosition(settings.gtidPosition)}'`,
    'SET @slave_gtid_strict_mode = 1',
    'SET @slave_gtid_ignore_duplicates = 0',
    // In nanoseconds.
    `SET @master_heartbeat_period = ${BigInt(settings.heartbeatPeriodMs) * 1_000_000n}`,
    ...(settings.semiSync ? ['SET @rpl_semi_sync_slave = 1'] : []),
  ];
}
