// Entry point of build/wasm/kernels.wasm (compiled by scripts/build-wasm.mjs with
// --runtime stub: no allocator is used; the JS side owns everything above heapBase()).
export { gemmScratchBytes, gemm_f32, gemm_f64 } from './gemm';
export { im2col_f32, im2col_f64, col2im_f32, col2im_f64 } from './conv';
export { dot_f32, dot_f64 } from './dot';

/** First byte the JS side may use as scratch (after static data; 64-byte aligned). */
export function heapBase(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}

/** Version tag so the loader can tell a stale build from the current one. */
export function abiVersion(): i32 {
  return 1;
}
