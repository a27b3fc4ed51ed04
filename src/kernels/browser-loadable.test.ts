/**
 * The browser demo bundles the library's modules from source: every module reachable from the
 * ones it imports must load without Node.js, i.e. import no `node:` built-in and no package
 * statically (Node-only code takes its modules from `process.getBuiltinModule` on first use).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backend, kernels, tsKernels, useKernels } from './index.js';

const DIST = fileURLToPath(new URL('..', import.meta.url));

/** Static imports (not `import type`, erased by then) reachable from `entry`, by importing file. */
function staticImports(entry: string): string[] {
  const seen = new Set<string>();
  const outside: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else outside.push(`${relative(DIST, file)} -> ${spec}`);
    }
  };
  visit(join(DIST, entry));
  return outside;
}

describe('browser-loadable modules', () => {
  it('the modules the web demo imports reach no node: built-in and no package statically', () => {
    for (const entry of ['kernels/index.js', 'kernels/wasm-backend.js', 'optim/registry.js', 'optim/objective.js', 'curvature/index.js',
      'nn/models.js', 'data/formula.js', 'autodiff/compose.js', 'bench/report.js', 'bench/schema.js']) {
      assert.deepEqual(staticImports(entry), [], entry);
    }
  });

  it('the check sees a static node: import where there is one', () => {
    assert.ok(staticImports('data/mnist.js').some((s) => s.includes('node:fs')));
  });
});

describe('useKernels', () => {
  it('installs a backend built outside the loaders as the active one under its name', () => {
    const prev = kernels();
    try {
      const own = { ...tsKernels };
      useKernels(own);
      assert.equal(kernels(), own);
      assert.equal(backend('ts'), own);
    } finally {
      useKernels(tsKernels);
      useKernels(prev);
    }
    assert.equal(kernels(), prev);
  });

  it('rejects what is not a Kernels object of a known backend, naming the function', () => {
    assert.throws(() => useKernels({ ...tsKernels, name: 'gpu' } as never), /useKernels: expects a Kernels object named one of native, wasm, ts/);
    assert.throws(() => useKernels(undefined as never), /useKernels/);
  });
});
