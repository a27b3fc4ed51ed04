/**
 * Numeric CSV files: one example per line, one column the label (by default the last). A header
 * line is recognised when a field of the first line is not a number. Quoted fields ("1.5") and
 * the delimiters , ; and tab (detected from the first line) are accepted. Every value must be a
 * finite number: an empty field, text or NaN fails with the file, line and column named.
 */
import type { DType } from '../../kernels/types.js';
import { Tensor, checkDType } from '../../tensor/tensor.js';
import { DataFileError, readBytes } from './read.js';

export interface CsvOptions {
  /** 'auto' (default): a first line with a non-numeric field is a header. */
  header?: boolean | 'auto';
  /** ',', ';' or '\t'; default detected from the first line. */
  delimiter?: string;
  /** The label column: index, header name, 'last' (default), 'first' or 'none'. */
  label?: number | string;
  /** Result dtype (default float32). */
  dtype?: DType;
}

export interface CsvData {
  /** [N, F] features. */
  x: Tensor;
  /** [N] labels, absent with `label: 'none'`. */
  y?: Tensor;
  /** Feature column names (header names, or `column k`). */
  columns: string[];
}

function splitLine(line: string, delimiter: string): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Parse CSV text; `file` names the source in errors. */
export function parseCsv(text: string, file: string, options: CsvOptions = {}): CsvData {
  const dtype = checkDType('loadCsv', options.dtype ?? 'float32');
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 0) throw new DataFileError(file, 'is empty');
  const first = lines[0];
  const delimiter = options.delimiter ?? ([',', ';', '\t'].find((d) => first.includes(d)) ?? ',');
  if (![',', ';', '\t'].includes(delimiter)) throw new RangeError(`loadCsv: delimiter must be ',', ';' or a tab, got ${JSON.stringify(delimiter)}`);
  const firstFields = splitLine(first, delimiter).map((s) => s.trim());
  const header = options.header ?? 'auto';
  if (header !== true && header !== false && header !== 'auto') throw new RangeError(`loadCsv: header must be true, false or 'auto', got ${JSON.stringify(header)}`);
  const hasHeader = header === 'auto' ? firstFields.some((f) => !NUMBER.test(f)) : header;
  const width = firstFields.length;
  const names = hasHeader ? firstFields : firstFields.map((_, k) => `column ${k}`);

  const label = options.label ?? 'last';
  let labelCol: number;
  if (label === 'none') labelCol = -1;
  else if (label === 'last') labelCol = width - 1;
  else if (label === 'first') labelCol = 0;
  else if (typeof label === 'number') {
    if (!Number.isInteger(label) || label < 0 || label >= width) throw new RangeError(`loadCsv: label column ${label} is out of range for ${file}, which has ${width} columns`);
    labelCol = label;
  } else if (typeof label === 'string') {
    labelCol = names.indexOf(label);
    if (!hasHeader || labelCol < 0) throw new RangeError(`loadCsv: ${file} has no column named '${label}'${hasHeader ? ` (columns: ${names.join(', ')})` : ' (no header line)'}`);
  } else throw new TypeError(`loadCsv: label must be a column index, a header name, 'last', 'first' or 'none', got ${JSON.stringify(label)}`);
  if (labelCol >= 0 && width < 2) throw new DataFileError(file, 'has one column: no features beside the label (use label: \'none\')');

  const body = hasHeader ? lines.slice(1) : lines;
  const firstLine = hasHeader ? 2 : 1;
  const nf = labelCol >= 0 ? width - 1 : width;
  const rows = body.filter((l) => l.trim() !== '').length;
  const x = dtype === 'float64' ? new Float64Array(rows * nf) : new Float32Array(rows * nf);
  const y = labelCol >= 0 ? (dtype === 'float64' ? new Float64Array(rows) : new Float32Array(rows)) : undefined;
  let r = 0;
  body.forEach((line, i) => {
    if (line.trim() === '') return;
    const lineNo = firstLine + i;
    const fields = splitLine(line, delimiter);
    if (fields.length !== width) throw new DataFileError(file, `line ${lineNo} has ${fields.length} fields, expected ${width} like line ${firstLine - (hasHeader ? 1 : 0)}`);
    let c = 0;
    for (let k = 0; k < width; k++) {
      const s = fields[k].trim();
      const v = NUMBER.test(s) ? Number(s) : NaN;
      if (!Number.isFinite(v)) {
        const what = s === '' ? 'is empty' : `'${s}' is not a finite number`;
        throw new DataFileError(file, `line ${lineNo}, column ${k + 1} (${names[k]}): ${what}`);
      }
      if (k === labelCol) y![r] = v;
      else x[r * nf + c++] = v;
    }
    r++;
  });
  if (rows === 0) throw new DataFileError(file, 'has a header but no data lines');
  return { x: new Tensor(x, [rows, nf]), y: y ? new Tensor(y, [rows]) : undefined, columns: names.filter((_, k) => k !== labelCol) };
}

/** Read a numeric CSV file (optionally gzip-compressed). */
export function loadCsv(path: string, options: CsvOptions = {}): CsvData {
  return parseCsv(new TextDecoder().decode(readBytes(path)), path, options);
}
