/**
 * Page 3: drop a results.json written by `hessian bench` and see its report, rendered by the
 * same `renderReport` that writes report.html (src/bench/report.ts), in a sandboxed frame.
 */
import { renderReport } from '../../src/bench/report.js';
import { validateResults } from '../../src/bench/schema.js';
import type { Results } from '../../src/bench/schema.js';
import uplotCss from 'uplot/dist/uPlot.min.css?raw';
import uplotJs from 'uplot/dist/uPlot.iife.min.js?raw';

export class ResultsPage {
  constructor(private readonly root: HTMLElement) {
    const input = root.querySelector<HTMLInputElement>('input[type=file]')!;
    input.onchange = () => { if (input.files?.[0]) void this.load(input.files[0]); };
    const zone = root.querySelector<HTMLElement>('.drop')!;
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      const file = e.dataTransfer?.files[0];
      if (file) void this.load(file);
    });
    // This module loads on the first visit: a file picked before that is read now.
    if (input.files?.[0]) void this.load(input.files[0]);
    root.dataset.ready = 'true';
  }

  /** Show the report of a results.json's text, or say what is wrong with it under the drop zone. */
  show(name: string, text: string): void {
    const message = this.root.querySelector<HTMLElement>('.results-error')!;
    const frame = this.root.querySelector<HTMLIFrameElement>('iframe')!;
    message.textContent = '';
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      message.textContent = `${name} is not JSON: ${e instanceof Error ? e.message : String(e)}`;
      return;
    }
    const problems = validateResults(doc as Parameters<typeof validateResults>[0]);
    if (problems.length > 0) {
      message.textContent = `${name} is not a results.json from hessian bench: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`;
      return;
    }
    frame.srcdoc = renderReport(doc as Results, { css: uplotCss, js: uplotJs });
    frame.hidden = false;
  }

  private async load(file: File): Promise<void> {
    this.show(file.name, await file.text());
  }
}
