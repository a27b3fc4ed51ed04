import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'src/kernels/wasm/assembly/**', 'web/dist/**', 'web/public/**', 'web/test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The browser demo's page and worker code.
    files: ['web/src/**/*.ts'],
    languageOptions: {
      globals: {
        window: 'readonly', document: 'readonly', self: 'readonly', location: 'readonly', fetch: 'readonly', performance: 'readonly',
        requestAnimationFrame: 'readonly', setTimeout: 'readonly', addEventListener: 'readonly', devicePixelRatio: 'readonly',
        Worker: 'readonly', ImageData: 'readonly', HTMLElement: 'readonly', HTMLCanvasElement: 'readonly', HTMLInputElement: 'readonly',
        HTMLButtonElement: 'readonly', HTMLIFrameElement: 'readonly', MessageEvent: 'readonly', MouseEvent: 'readonly', File: 'readonly',
      },
    },
  },
);
