import { LOG_EVENT_BINLOG_IN_USE_F } from '../protocol/binlog/index.js';

/** Offsets in the v4 event header. */
const headerTypeOffset = 4;
const headerFlagsOffset = 17;
const formatDescriptionTypeCode = 15;

/**
 * The FORMAT_DESCRIPTION event of a binlog file still being written carries
 * LOG_EVENT_BINLOG_IN_USE_F, but the server computed its CRC32 with that flag clear (and clears
 * it when the file is closed), so the event as stored fails a plain CRC check. Returns a copy
 * with the flag cleared, which verifies, as the server's own reader does; any other event is
 * returned as is.
 */
export function withoutInUseFlag(event: Uint8Array): Uint8Array {
  if (event[headerTypeOffset] !== formatDescriptionTypeCode) return event;
  const flags = (event[headerFlagsOffset] ?? 0) | ((event[headerFlagsOffset + 1] ?? 0) << 8);
  if ((flags & LOG_EVENT_BINLOG_IN_USE_F) === 0) return event;
  const copy = Buffer.from(event);
  copy.writeUInt16LE(flags & ~LOG_EVENT_BINLOG_IN_USE_F, headerFlagsOffset);
  return copy;
}
