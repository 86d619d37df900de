import fs from 'node:fs';
import { join } from 'node:path';
import { scanSegment } from './frame-scan.js';
import {
  decodeSeal,
  decodeSealTrailer,
  decodeSegmentHeader,
  encodeSegmentHeader,
  SEAL_TRAILER_BYTES,
  SEGMENT_HEADER_BYTES,
  type SegmentHeader,
  type SegmentSeal,
} from './frame-segment.js';
import {
  appendHandleFlags,
  closeFile,
  fileBytes,
  openFile,
  readExactly,
  segmentFileName,
  syncData,
  syncDir,
  TEMP_SUFFIX,
  writeAt,
} from './segment-files.js';
import { WalCorruptionError } from './wal-errors.js';

/**
 * One segment file as the WAL tracks it. Entries [firstIndex, lastIndex] (both inclusive; empty
 * when lastIndex = firstIndex - 1) occupy bytes [SEGMENT_HEADER_BYTES, framesEndBytes). A sealed
 * segment has its seal footer after framesEndBytes and never changes again (except truncation).
 */
export interface Segment {
  readonly firstIndex: number;
  readonly prevTerm: number;
  readonly createdMs: number;
  readonly path: string;
  lastIndex: number;
  framesEndBytes: number;
  sealed: boolean;
}

/**
 * Creates a segment durably: header written to a temp file and fsynced, renamed to its final
 * name, directory fsynced. A crash leaves either no segment or one with a whole header (plus a
 * temp file that the next open removes). Returns the open fd for appending (O_DSYNC when
 * `durableWrites`: see `appendHandleFlags`).
 */
export async function createSegment(
  dir: string,
  header: SegmentHeader,
  durableWrites: boolean,
): Promise<{ segment: Segment; fd: number }> {
  const path = join(dir, segmentFileName(header.firstIndex));
  const tempPath = `${path.slice(0, -'.wal'.length)}${TEMP_SUFFIX}`;
  const fd = await openFile(tempPath, appendHandleFlags('w+', durableWrites));
  try {
    await writeAt(fd, encodeSegmentHeader(header), 0);
    await syncData(fd);
    await fs.promises.rename(tempPath, path);
    await syncDir(dir);
  } catch (error) {
    await closeFile(fd).catch(() => undefined);
    throw error;
  }
  const segment: Segment = {
    ...header,
    path,
    lastIndex: header.firstIndex - 1,
    framesEndBytes: SEGMENT_HEADER_BYTES,
    sealed: false,
  };
  return { segment, fd };
}

/** Reads and checks a segment's header; the name must agree with it (catches renamed files). */
export async function readSegmentHeader(fd: number, path: string, nameIndex: number): Promise<SegmentHeader> {
  const size = await fileBytes(fd);
  if (size < SEGMENT_HEADER_BYTES) {
    throw new WalCorruptionError(path, 0, `the file is ${size} bytes, shorter than a segment header`);
  }
  const decoded = decodeSegmentHeader(await readExactly(fd, 0, SEGMENT_HEADER_BYTES, path));
  if (!decoded.ok) throw new WalCorruptionError(path, 0, `segment header: ${decoded.reason}`);
  if (decoded.value.firstIndex !== nameIndex) {
    throw new WalCorruptionError(
      path,
      8,
      `the header says the segment starts at index ${decoded.value.firstIndex} but its name says ${nameIndex} (renamed or copied file?)`,
    );
  }
  return decoded.value;
}

/** Reads a sealed segment's footer; a segment that is not the last must have one. */
export async function readSegmentSeal(
  fd: number,
  path: string,
): Promise<{ seal: SegmentSeal; framesEndBytes: number }> {
  const size = await fileBytes(fd);
  const trailerOffset = size - SEAL_TRAILER_BYTES;
  const notSealed = (what: string) =>
    new WalCorruptionError(
      path,
      Math.max(0, trailerOffset),
      `${what}; a segment followed by another must end with a seal (it is damaged or truncated)`,
    );
  if (trailerOffset < SEGMENT_HEADER_BYTES) throw notSealed(`the file is only ${size} bytes`);
  const trailer = decodeSealTrailer(await readExactly(fd, trailerOffset, SEAL_TRAILER_BYTES, path));
  if (!trailer.ok) throw notSealed(trailer.reason);
  const framesEndBytes = size - trailer.value;
  if (framesEndBytes < SEGMENT_HEADER_BYTES) throw notSealed('the seal is longer than the file');
  const seal = decodeSeal(await readExactly(fd, framesEndBytes, trailer.value, path));
  if (!seal.ok) throw notSealed(seal.reason);
  return { seal: seal.value, framesEndBytes };
}

/** Reads a whole sealed segment and checks every frame and the seal; returns the bytes checked. */
export async function verifySealedSegment(segment: Segment): Promise<number> {
  const bytes = await fs.promises.readFile(segment.path);
  const header = decodeSegmentHeader(bytes);
  if (!header.ok) throw new WalCorruptionError(segment.path, 0, `segment header: ${header.reason}`);
  const scan = scanSegment(bytes, header.value);
  if (scan.kind === 'damaged') throw new WalCorruptionError(segment.path, scan.offset, scan.what);
  if (scan.kind === 'torn' || !scan.sealed || scan.lastIndex !== segment.lastIndex) {
    const what = scan.kind === 'torn' ? scan.reason : 'the frames do not end where the seal says';
    throw new WalCorruptionError(segment.path, scan.framesEndBytes, what);
  }
  return bytes.byteLength;
}
