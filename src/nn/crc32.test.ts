import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { uniformSource } from '../testing/helpers.js';
import { crc32 } from './crc32.js';

test('crc32 gives the standard check value and agrees with zlib on random data of every length mod 4', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const next = uniformSource(7);
  for (let len = 0; len < 70; len++) {
    const bytes = Uint8Array.from({ length: len * 13 + (len % 4) }, () => Math.floor(next() * 256));
    assert.equal(crc32(bytes), zlibCrc32(bytes), `length ${bytes.length}`);
  }
});

test('crc32 changes when any single bit flips', () => {
  const next = uniformSource(8);
  const bytes = Uint8Array.from({ length: 64 }, () => Math.floor(next() * 256));
  const base = crc32(bytes);
  for (let i = 0; i < bytes.length * 8; i++) {
    bytes[i >> 3] ^= 1 << (i & 7);
    assert.notEqual(crc32(bytes), base, `bit ${i}`);
    bytes[i >> 3] ^= 1 << (i & 7);
  }
});
