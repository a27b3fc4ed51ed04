import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { loadCsv, loadIdx, loadNpy, loadNpz, DataFileError } from './index.js';

// Fixtures written by NumPy (np.save / np.savez / np.savez_compressed) and by hand for idx,
// so the readers are checked against files they did not write themselves.
const FIX = fileURLToPath(new URL('../../../src/data/files/fixtures/', import.meta.url));
const fix = (name: string) => join(FIX, name);
const tmp = mkdtempSync(join(tmpdir(), 'hessian-files-'));
function write(name: string, content: string | Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, content);
  return p;
}

test('npy: float32, Fortran-order float64, big-endian int64, uint8 and float16 as NumPy wrote them', () => {
  const a = loadNpy(fix('f4.npy'));
  assert.deepEqual(a.shape, [2, 3]);
  assert.equal(a.dtype, 'float32');
  assert.deepEqual(Array.from(a.data), [0, 0.25, 0.5, 0.75, 1, 1.25]);
  const f = loadNpy(fix('f8-fortran.npy'));
  assert.equal(f.dtype, 'float64');
  assert.deepEqual(Array.from(f.data), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]); // row-major after the transpose
  assert.deepEqual(Array.from(loadNpy(fix('i8-big.npy'), { dtype: 'float64' }).data), [-3, 7, 2 ** 40, 0]);
  assert.deepEqual(Array.from(loadNpy(fix('u1.npy')).data), [0, 255, 17]);
  assert.deepEqual(Array.from(loadNpy(fix('f2.npy')).data), [1.5, -0.25, 65504]);
});

test('npz: stored and deflated archives give every array by name', () => {
  const p = loadNpz(fix('plain.npz'));
  assert.deepEqual(Object.keys(p).sort(), ['x', 'y']);
  assert.deepEqual(Array.from(p.x.data), [0, 1, 2, 3]);
  assert.deepEqual(p.x.shape, [2, 2]);
  assert.deepEqual(Array.from(p.y.data), [1, 0]);
  const c = loadNpz(fix('compressed.npz'));
  assert.deepEqual(c.x.shape, [10, 5]);
  assert.ok(Math.abs(c.x.data[49] - 1) < 1e-7 && Math.abs(c.x.data[1] - 1 / 49) < 1e-7);
  assert.deepEqual(Array.from(c.y.data), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
});

test('idx: raw and gzip-compressed files, uint8 and float64, with scale', () => {
  const x = loadIdx(fix('images-idx3-ubyte'), { scale: 1 / 255 });
  assert.deepEqual(x.shape, [3, 2, 2]);
  assert.ok(Math.abs(x.data[1] - 1) < 1e-7 && Math.abs(x.data[2] - 128 / 255) < 1e-7);
  assert.deepEqual(Array.from(loadIdx(fix('labels-idx1-ubyte.gz')).data), [7, 0, 9]);
  assert.deepEqual(Array.from(loadIdx(fix('f8-idx1'), { dtype: 'float64' }).data), [-1.25, 3e100]);
});

test('csv: header detection, label column by name or index, quoted fields, gzip', () => {
  const p = write('a.csv', 'f1,f2,"label"\n1,2.5,0\n-3e2,"4",1\n\n');
  const d = loadCsv(p);
  assert.deepEqual(d.x.shape, [2, 2]);
  assert.deepEqual(Array.from(d.x.data), [1, 2.5, -300, 4]);
  assert.deepEqual(Array.from(d.y!.data), [0, 1]);
  assert.deepEqual(d.columns, ['f1', 'f2']);
  const byName = loadCsv(p, { label: 'f1', dtype: 'float64' });
  assert.deepEqual(Array.from(byName.y!.data), [1, -300]);
  assert.deepEqual(byName.columns, ['f2', 'label']);
  const noHeader = loadCsv(write('b.csv', '1;2;3\r\n4;5;6\r\n'), { label: 0 });
  assert.deepEqual(Array.from(noHeader.x.data), [2, 3, 5, 6]);
  const gz = loadCsv(write('c.csv.gz', gzipSync(Buffer.from('1\t2\n3\t4\n'))), { label: 'none' });
  assert.deepEqual(gz.x.shape, [2, 2]);
  assert.equal(gz.y, undefined);
});

test('bad files fail with one line naming the file and the line, column or field', () => {
  const ragged = write('ragged.csv', 'a,b,c\n1,2,3\n4,5\n');
  assert.throws(() => loadCsv(ragged), (e: Error) => e instanceof DataFileError && e.message === `${ragged}: line 3 has 2 fields, expected 3 like line 1`);
  const nan = write('nan.csv', '1,2\n3,NaN\n');
  assert.throws(() => loadCsv(nan), new RegExp(`${nan}: line 2, column 2 \\(column 1\\): 'NaN' is not a finite number`));
  assert.throws(() => loadCsv(write('empty-field.csv', '1,2\n,3\n')), /line 2, column 1 \(column 0\): is empty/);
  assert.throws(() => loadCsv(write('only-header.csv', 'a,b\n')), /has a header but no data lines/);
  assert.throws(() => loadCsv(p404()), /cannot be read \(ENOENT\)/);
  const magic = write('bad-magic-idx', new Uint8Array([1, 2, 8, 1, 0, 0, 0, 1, 5]));
  assert.throws(() => loadIdx(magic), new RegExp(`${magic}: not an idx file: wrong magic number \\(first bytes 01 02 08 01`));
  const short = write('short-idx', new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 5]));
  assert.throws(() => loadIdx(short), /idx header says uint8 \[3\] \(11 bytes\), the file has 9 bytes/);
  const nanIdx = new Uint8Array(16);
  nanIdx.set([0, 0, 0x0e, 1, 0, 0, 0, 1]);
  new DataView(nanIdx.buffer).setFloat64(8, NaN);
  assert.throws(() => loadIdx(write('nan-idx', nanIdx)), /value 0 \(index \[0\]\) is NaN/);
  assert.throws(() => loadNpy(write('x.npy', 'hello world')), /not a .npy file: wrong magic number/);
  const npy = readFileSync(fix('f4.npy'));
  assert.throws(() => loadNpy(write('trunc.npy', npy.subarray(0, npy.length - 4))), /= 24 bytes of data, the file has 20/);
  assert.throws(() => loadNpz(fix('f4.npy')), /not a zip archive/);
});

function p404(): string {
  return join(tmp, 'does-not-exist.csv');
}
