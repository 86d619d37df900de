import { type CapturedTransaction, transactionEvents } from '../capture/captured-transaction.js';
import type { ApplierTransaction } from './applier-transaction.js';

/**
 * A transaction as the capture hands it out (or as the WAL returns it) → what the applier takes.
 * The capture's contract is the applier's: raw events with their checksums, GTID event first,
 * commit event last, and the FORMAT_DESCRIPTION of their binlog file. A spilled transaction is
 * read into memory here: the applier sends a transaction as whole statements, and its largest
 * statement is bounded by the target's max_allowed_packet anyway.
 */
export async function applierTransactionFrom(captured: CapturedTransaction): Promise<ApplierTransaction> {
  const events: Buffer[] = [];
  for await (const event of transactionEvents(captured)) events.push(event);
  return { gtid: captured.gtid, events, formatDescription: captured.formatDescription };
}
