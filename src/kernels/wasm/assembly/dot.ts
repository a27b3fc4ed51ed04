// Dot product accumulated in float64 (f32 inputs are widened; their products are exact in f64).
// Four independent f64x2 accumulators hide the add latency.

export function dot_f32(x: usize, y: usize, n: i32): f64 {
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s2 = f64x2.splat(0);
  let s3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    const x0 = v128.load(x + o);
    const y0 = v128.load(y + o);
    const x1 = v128.load(x + o, 16);
    const y1 = v128.load(y + o, 16);
    s0 = f64x2.add(s0, f64x2.mul(f64x2.promote_low_f32x4(x0), f64x2.promote_low_f32x4(y0)));
    s1 = f64x2.add(s1, f64x2.mul(
      f64x2.promote_low_f32x4(i32x4.shuffle(x0, x0, 2, 3, 0, 1)),
      f64x2.promote_low_f32x4(i32x4.shuffle(y0, y0, 2, 3, 0, 1))));
    s2 = f64x2.add(s2, f64x2.mul(f64x2.promote_low_f32x4(x1), f64x2.promote_low_f32x4(y1)));
    s3 = f64x2.add(s3, f64x2.mul(
      f64x2.promote_low_f32x4(i32x4.shuffle(x1, x1, 2, 3, 0, 1)),
      f64x2.promote_low_f32x4(i32x4.shuffle(y1, y1, 2, 3, 0, 1))));
  }
  const v = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let s = f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
  for (; i < n; i++) {
    const o = <usize>i << 2;
    s += <f64>load<f32>(x + o) * <f64>load<f32>(y + o);
  }
  return s;
}

export function dot_f64(x: usize, y: usize, n: i32): f64 {
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let s2 = f64x2.splat(0);
  let s3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 3;
    s0 = f64x2.add(s0, f64x2.mul(v128.load(x + o), v128.load(y + o)));
    s1 = f64x2.add(s1, f64x2.mul(v128.load(x + o, 16), v128.load(y + o, 16)));
    s2 = f64x2.add(s2, f64x2.mul(v128.load(x + o, 32), v128.load(y + o, 32)));
    s3 = f64x2.add(s3, f64x2.mul(v128.load(x + o, 48), v128.load(y + o, 48)));
  }
  const v = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let s = f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
  for (; i < n; i++) {
    const o = <usize>i << 3;
    s += load<f64>(x + o) * load<f64>(y + o);
  }
  return s;
}
