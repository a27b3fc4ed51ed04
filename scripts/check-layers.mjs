#!/usr/bin/env node
// Fails (exit 1) when a source file imports against the layer order, or when files import each
// other in a cycle. The folder tree is the architecture (DESIGN.md): a file may import from its
// own layer and from layers to its left in
//   kernels → tensor → autodiff → nn → curvature → distributed → optim → data → train → bench → cli
// src/index.ts, src/info.ts and src/testing/ sit outside the order (the package root re-exports
// everything; tests everywhere use the helpers). Test files (*.test.ts) may import any layer: a
// test is a leaf that nothing imports, and may use a higher layer as its fixture or oracle (an
// nn layer to cross-check autodiff); they still count for cycles. Static imports, re-exports and `import('...')`
// with a literal path all count, type-only ones too: a type that crosses a layer is a dependency.
// Usage: node scripts/check-layers.mjs [--root DIR]   (DIR holds src/; default: the repository)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = ['kernels', 'tensor', 'autodiff', 'nn', 'curvature', 'distributed', 'optim', 'data', 'train', 'bench', 'cli'];
// Root-level tests (the README's examples, the API surface) test the package as a whole.
const EXEMPT = (file) => file === 'index.ts' || file === 'info.ts' || file.startsWith('testing/') || (!file.includes('/') && file.endsWith('.test.ts'));

// Imports and cycles allowed by name, each with the reason it may stay for now.
const ALLOWED_IMPORTS = new Map([]);
const ALLOWED_CYCLES = new Map([]);

const IMPORT = /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;}])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function listTs(dir, base, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) listTs(p, base, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(relative(base, p).split(sep).join('/'));
  }
  return out;
}

/** Blank out comments so that an import shown in a doc comment does not count. */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** The files a source imports (relative specifiers only, resolved to src-relative .ts paths). */
export function importsOf(file, text) {
  const out = [];
  for (const m of stripComments(text).matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) continue; // packages and node: builtins
    const target = join(dirname(file), spec).split(sep).join('/').replace(/\.(m?js)$/, '.ts');
    out.push(target.endsWith('.ts') ? target : `${target}.ts`);
  }
  return out;
}

function layerOf(file) {
  const top = file.includes('/') ? file.slice(0, file.indexOf('/')) : '';
  return LAYERS.indexOf(top);
}

/** Elementary cycles reachable in the import graph, each reported once as 'a -> b -> ... '. */
function findCycles(graph) {
  const cycles = new Map();
  const state = new Map(); // 1 on the stack, 2 done
  const stack = [];
  const visit = (f) => {
    state.set(f, 1);
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 1) {
        const cyc = stack.slice(stack.indexOf(t));
        // Rotate to the smallest name so that each cycle has one spelling.
        const k = cyc.indexOf([...cyc].sort()[0]);
        const key = [...cyc.slice(k), ...cyc.slice(0, k)].join(' -> ');
        cycles.set(key, cyc.length);
      } else if (!state.has(t)) {
        visit(t);
      }
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return [...cycles.keys()];
}

/** Every problem in the tree under `root` (which holds src/), as readable lines. */
export function checkLayers(root) {
  const src = join(root, 'src');
  const files = listTs(src, src, []).filter((f) => !f.startsWith('kernels/wasm/assembly/'));
  const known = new Set(files);
  const problems = [];
  const graph = new Map();
  for (const file of files) {
    const targets = importsOf(file, readFileSync(join(src, file), 'utf8'));
    graph.set(file, targets.filter((t) => known.has(t)));
    if (EXEMPT(file)) continue;
    const from = layerOf(file);
    if (from < 0) {
      problems.push(`${file}: folder '${file.split('/')[0]}' is not in the layer order (${LAYERS.join(' → ')})`);
      continue;
    }
    for (const t of targets) {
      if (!known.has(t)) {
        problems.push(`${file}: imports '${t}', which does not exist`);
        continue;
      }
      if (EXEMPT(t)) {
        if (t === 'index.ts' && !file.endsWith('.test.ts')) problems.push(`${file}: imports the package root 'index.ts' (import the module itself)`);
        continue;
      }
      const to = layerOf(t);
      if (ALLOWED_IMPORTS.has(`${file} -> ${t}`)) continue;
      if (to > from && !file.endsWith('.test.ts')) problems.push(`${file}: imports '${t}' — ${LAYERS[from]} may not depend on ${LAYERS[to]} (order ${LAYERS.join(' → ')})`);
    }
  }
  const cycles = findCycles(graph);
  const allowed = [];
  for (const c of cycles) {
    if (ALLOWED_CYCLES.has(c)) allowed.push(`${c} (allowed: ${ALLOWED_CYCLES.get(c)})`);
    else problems.push(`import cycle: ${c} -> ${c.split(' -> ')[0]}`);
  }
  return { files: files.length, problems, allowed };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--root');
  const root = i > 0 ? resolve(process.argv[i + 1]) : fileURLToPath(new URL('..', import.meta.url));
  const r = checkLayers(root);
  for (const a of r.allowed) console.log(`check-layers: ${a}`);
  for (const p of r.problems) console.error(`check-layers: ${p}`);
  console.log(`check-layers: ${r.files} files, ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`);
  process.exit(r.problems.length > 0 ? 1 : 0);
}
