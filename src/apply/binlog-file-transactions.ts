import { readFile } from 'node:fs/promises';
import {
  type BinlogDecodeContext,
  binlogDecodeContextFrom,
  decodeBinlogEvent,
  FL_STANDALONE,
  splitBinlogFile,
} from '../protocol/binlog/index.js';
import type { ApplierTransaction } from './applier-transaction.js';
import { withoutInUseFlag } from './format-description.js';

/**
 * TEST AND BENCHMARK SUPPORT, not the production path: the capture (src/capture) produces
 * transactions from a live binlog stream. This reads binlog *files* of a source server and
 * groups their events into the transactions the applier takes, so apply can be tested and
 * measured on its own.
 *
 * Grouping: a GTID event starts a transaction; it ends with the XID event, a COMMIT or ROLLBACK
 * QUERY event, or — when the GTID event is flagged standalone (DDL and the like) — with its one
 * QUERY event. Events outside any transaction (FORMAT_DESCRIPTION, GTID_LIST, BINLOG_CHECKPOINT,
 * ROTATE, STOP) are not part of one. Throws on a malformed file or an unfinished transaction at
 * the end of the last file (a file being written may end mid-transaction: flush it first).
 */
export async function readBinlogTransactions(paths: readonly string[]): Promise<ApplierTransaction[]> {
  const transactions: ApplierTransaction[] = [];
  for (const path of paths) {
    const events = splitBinlogFile(await readFile(path));
    if (!events.ok) throw new Error(`${path}: ${events.error.message}`);
    transactions.push(...groupTransactions(events.value, path));
  }
  return transactions;
}

/** Groups one binlog file's events (first: its FORMAT_DESCRIPTION) into transactions. */
export function groupTransactions(events: readonly Uint8Array[], where: string): ApplierTransaction[] {
  const transactions: ApplierTransaction[] = [];
  let formatDescription: Uint8Array | undefined;
  let context: BinlogDecodeContext | undefined;
  let open: { gtid: ApplierTransaction['gtid']; standalone: boolean; events: Uint8Array[] } | undefined;
  for (const [index, raw] of events.entries()) {
    const bytes = withoutInUseFlag(raw);
    const decoded = decodeBinlogEvent(bytes, context ?? { checksum: 'none' });
    if (!decoded.ok) throw new Error(`${where}: event ${index}: ${decoded.error.message}`);
    const { header, body } = decoded.value;
    if (body.kind === 'format_description') {
      formatDescription = bytes;
      context = binlogDecodeContextFrom(body);
      continue;
    }
    if (formatDescription === undefined)
      throw new Error(`${where}: event ${index} precedes the format description`);
    if (body.kind === 'gtid') {
      if (open !== undefined)
        throw new Error(`${where}: a GTID event inside an open transaction at event ${index}`);
      open = {
        gtid: { domainId: body.domainId, serverId: header.serverId, sequenceNumber: body.sequenceNumber },
        standalone: (body.flags & FL_STANDALONE) !== 0,
        events: [bytes],
      };
      continue;
    }
    if (open === undefined) continue;
    open.events.push(bytes);
    const ends =
      body.kind === 'xid' ||
      (body.kind === 'query' &&
        (open.standalone ||
          ['COMMIT', 'ROLLBACK'].includes(body.query.toString('latin1').trim().toUpperCase())));
    if (ends) {
      transactions.push({ gtid: open.gtid, events: open.events, formatDescription });
      open = undefined;
    }
  }
  if (open !== undefined)
    throw new Error(`${where}: ends inside a transaction (${open.events.length} events)`);
  return transactions;
}
