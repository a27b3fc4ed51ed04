/**
 * The demo's entry: three pages behind the hash (#landscapes, #networks, #results), each built
 * on first visit; one animation-frame loop redraws the visible page. `window.hessianDemo`
 * exposes the state to tests: `state()` → `{ page, running, step, series }` (series: per
 * optimizer, the loss values so far).
 */
import { LandscapesPage } from './landscapes.js';
import { NetworksPage } from './networks.js';
import type { ResultsPage } from './results.js';
import './style.css';

type PageId = 'landscapes' | 'networks' | 'results';
const PAGES: readonly PageId[] = ['landscapes', 'networks', 'results'];

let landscapes: LandscapesPage | undefined;
let networks: NetworksPage | undefined;
let results: ResultsPage | undefined;
let page: PageId = 'landscapes';

function show(): void {
  const id = location.hash.slice(1) as PageId;
  const next = PAGES.includes(id) ? id : 'landscapes';
  // The page left stops computing: its worker keeps its runs, and start resumes them.
  if (next !== page) {
    if (page === 'landscapes') landscapes?.pause();
    if (page === 'networks') networks?.pause();
  }
  page = next;
  for (const p of PAGES) {
    document.getElementById(p)!.hidden = p !== page;
    document.querySelector(`nav a[href="#${p}"]`)!.classList.toggle('active', p === page);
  }
  const root = document.getElementById(page)!;
  if (page === 'landscapes') landscapes ??= new LandscapesPage(root);
  if (page === 'networks') networks ??= new NetworksPage(root);
  if (page === 'results') void resultsPage();
}

/** The results page (with the report renderer and uPlot) loads on first visit only. */
async function resultsPage(): Promise<ResultsPage> {
  if (!results) {
    const { ResultsPage } = await import('./results.js');
    results ??= new ResultsPage(document.getElementById('results')!);
  }
  return results;
}

function frame(): void {
  if (page === 'landscapes') landscapes?.draw();
  if (page === 'networks') networks?.draw();
  requestAnimationFrame(frame);
}

const current = (): LandscapesPage | NetworksPage | undefined => (page === 'landscapes' ? landscapes : page === 'networks' ? networks : undefined);

declare global {
  interface Window {
    hessianDemo: {
      state(): { page: PageId; running: boolean; step: number; series: Record<string, number[]> };
      /** Landscapes: ms from start to the first trajectory drawn (0 before). */
      firstTrajectoryMs(): number;
      /** Results: render a results.json given as text (what dropping the file does). */
      showResults(name: string, text: string): Promise<void>;
    };
  }
}

window.hessianDemo = {
  state() {
    const p = current();
    return {
      page,
      running: p?.running ?? false,
      step: p?.step ?? 0,
      series: Object.fromEntries(Object.entries(p?.series ?? {}).map(([id, pts]) => [id, pts.map((x) => x.loss)])),
    };
  },
  firstTrajectoryMs: () => (landscapes && landscapes.firstDrawAt > 0 ? landscapes.firstDrawAt - landscapes.startedAt : 0),
  async showResults(name, text) {
    (await resultsPage()).show(name, text);
  },
};

addEventListener('hashchange', show);
show();
requestAnimationFrame(frame);
