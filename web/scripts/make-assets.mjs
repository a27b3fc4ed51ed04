#!/usr/bin/env node
// Writes the demo's data into web/public/ (git-ignored, rebuilt by `npm run build:web`):
// digits.bin, a seeded subset of the MNIST digits the package ships
// (loaded with the package's own loadMnist from dist/, so build:ts must have run): u32 train
// count, u32 test count, the pixels as bytes (round(255·v)), then the labels as bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = `${root}web/public/`;
mkdirSync(out, { recursive: true });

const TRAIN = 512;
const TEST = 64;
const { loadMnist } = await import(`${root}dist/data/mnist.js`);
const { train, test } = loadMnist({ trainSize: TRAIN, testSize: TEST, seed: 0 });
const bytes = new Uint8Array(8 + (TRAIN + TEST) * 785);
new Uint32Array(bytes.buffer, 0, 2).set([TRAIN, TEST]);
let o = 8;
for (const split of [train, test]) for (const v of split.x.data) bytes[o++] = Math.round(255 * v);
for (const split of [train, test]) for (const v of split.y.data) bytes[o++] = v;
writeFileSync(`${out}digits.bin`, bytes);
console.log(`make-assets: web/public/digits.bin (${TRAIN} + ${TEST} digits, ${bytes.length} bytes)`);
