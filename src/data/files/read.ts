/**
 * Shared by the file loaders: read a file (gunzipped when it starts with the gzip magic) and
 * raise errors that name the file, so a bad data file never fails deep inside a kernel.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** A data file that cannot be used: the message names the file and, where known, the line or field. */
export class DataFileError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'DataFileError';
  }
}

/** The bytes of `path`; `.gz` content (by its magic bytes, not its name) is decompressed. */
export function readBytes(path: string): Uint8Array {
  if (typeof path !== 'string' || path === '') throw new TypeError(`expected a file path, got ${JSON.stringify(path)}`);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new DataFileError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new DataFileError(path, `is gzip-compressed but does not decompress (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
