/**
 * Strings over a communicator. In a file of its own, without Node built-ins, so that the modules
 * the browser bundles (K-FAC reaches round-robin.ts) stay loadable in a page.
 */
import { Tensor } from '../tensor/tensor.js';
import type { Communicator } from './communicator.js';

/** The string `s` of rank `root` on every rank (character codes broadcast as float64). */
export function broadcastText(comm: Communicator, s: string, root: number): string {
  const len = new Tensor(new Float64Array([comm.rank === root ? s.length : 0]), [1]);
  comm.broadcast(len, root);
  const codes = new Tensor(new Float64Array(len.data[0]), [len.data[0]]);
  if (comm.rank === root) for (let i = 0; i < s.length; i++) codes.data[i] = s.charCodeAt(i);
  comm.broadcast(codes, root);
  let out = '';
  for (let i = 0; i < codes.data.length; i += 8192) out += String.fromCharCode(...codes.data.subarray(i, i + 8192));
  return out;
}
