/** The page's side of a compute worker: starts it, hands it the page's base URL, routes replies. */
import type { FromWorker, ToWorker } from './protocol.js';

export class Compute {
  private readonly worker: Worker;
  backend = 'loading';
  note = '';

  constructor(onMessage: (m: FromWorker) => void) {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type === 'ready') {
        this.backend = m.backend;
        this.note = m.note;
        const el = document.querySelector('.backend');
        if (el) el.textContent = `kernels: ${m.backend}${m.note ? ` — ${m.note}` : ''} (in a Web Worker)`;
      }
      onMessage(m);
    };
    this.send({ type: 'init', base: new URL('./', location.href).href });
  }

  send(m: ToWorker): void {
    this.worker.postMessage(m);
  }
}
