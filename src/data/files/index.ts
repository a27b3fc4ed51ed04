/** Loaders and helpers for a user's own data. */
export { DataFileError } from './read.js';
export { loadCsv, parseCsv, type CsvOptions, type CsvData } from './csv.js';
export { loadIdx, parseIdx, type IdxOptions } from './idx.js';
export { loadNpy, loadNpz, parseNpy, type NpyOptions } from './npy.js';
export { fromArrays, split, shuffle, batches, checkLabels, takeRows, type Dataset, type FromArraysOptions, type SplitOptions, type BatchOptions } from './dataset.js';
