import { crc32 } from 'node:zlib';

/**
 * Frames on a cluster connection. Pure: bytes in, values out.
 *
 *   offset  size  field
 *   0       4     payload length, u32 LE (bytes after this 9-byte header)
 *   4       1     frame type (FrameType)
 *   5       4     CRC-32 (IEEE) of the type byte and the payload, u32 LE
 *   9       n     payload
 *
 * TCP already checksums segments, but a 16-bit sum over a long-lived stream lets corruption
 * through now and then; a frame that fails its CRC closes the connection instead of feeding a
 * damaged message to the consensus engine.
 */
export const frameHeaderBytes = 9;

/** Largest payload accepted; a peer announcing more is broken or hostile. */
export const framePayloadBytesMax = 64 * 1024 * 1024;

export const FrameType = {
  /** Dialer → acceptor: cluster name, node id, nonce. */
  hello: 1,
  /** Acceptor → dialer: node id, nonce, proof of the secret. */
  challenge: 2,
  /** Dialer → acceptor: proof of the secret. */
  proof: 3,
  /** Acceptor → dialer: authenticated. */
  welcome: 4,
  /** Either side: refused, with a reason for the operator. */
  reject: 5,
  /** After authentication: one application message. */
  message: 6,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const knownTypes = new Set<number>(Object.values(FrameType));

export interface Frame {
  readonly type: FrameType;
  readonly payload: Uint8Array;
}

export function encodeFrame(frame: Frame): Buffer {
  if (frame.payload.byteLength > framePayloadBytesMax) {
    throw new Error(`frame payload of ${frame.payload.byteLength} bytes exceeds ${framePayloadBytesMax}`);
  }
  const out = Buffer.allocUnsafe(frameHeaderBytes + frame.payload.byteLength);
  out.writeUInt32LE(frame.payload.byteLength, 0);
  out.writeUInt8(frame.type, 4);
  out.set(frame.payload, frameHeaderBytes);
  out.writeUInt32LE(crc32(out.subarray(frameHeaderBytes), crc32(out.subarray(4, 5))), 5);
  return out;
}

export type FrameError =
  | { readonly code: 'TOO_LARGE'; readonly message: string }
  | { readonly code: 'BAD_CHECKSUM'; readonly message: string }
  | { readonly code: 'UNKNOWN_TYPE'; readonly message: string };

export type DecodeResult =
  | { readonly ok: true; readonly frames: readonly Frame[]; readonly rest: Buffer }
  | { readonly ok: false; readonly error: FrameError };

/**
 * Splits `buffer` into whole frames and the incomplete rest (to be prefixed to the next chunk).
 * An error means the stream is unusable: close the connection.
 */
export function decodeFrames(buffer: Buffer): DecodeResult {
  const frames: Frame[] = [];
  let offset = 0;
  while (buffer.length - offset >= frameHeaderBytes) {
    const length = buffer.readUInt32LE(offset);
    if (length > framePayloadBytesMax) {
      return {
        ok: false,
        error: { code: 'TOO_LARGE', message: `frame of ${length} bytes exceeds ${framePayloadBytesMax}` },
      };
    }
    const type = buffer.readUInt8(offset + 4);
    if (!knownTypes.has(type)) {
      return { ok: false, error: { code: 'UNKNOWN_TYPE', message: `unknown frame type ${type}` } };
    }
    if (buffer.length - offset < frameHeaderBytes + length) break;
    const payload = buffer.subarray(offset + frameHeaderBytes, offset + frameHeaderBytes + length);
    const expected = buffer.readUInt32LE(offset + 5);
    if (crc32(payload, crc32(buffer.subarray(offset + 4, offset + 5))) !== expected) {
      return { ok: false, error: { code: 'BAD_CHECKSUM', message: 'frame checksum mismatch' } };
    }
    frames.push({ type: type as FrameType, payload });
    offset += frameHeaderBytes + length;
  }
  return { ok: true, frames, rest: buffer.subarray(offset) };
}
