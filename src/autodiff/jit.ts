export function jit<F extends (...args: never[]) => unknown>(f: F): F {
  return f;
}
