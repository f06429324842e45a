/**
 * Summary statistics for benchmark samples. Generic: no knowledge of what was
 * measured. Every function takes an array of finite numbers and leaves it intact.
 */

/** Sorted copy (ascending). */
export function sorted(values) {
  return Float64Array.from(values).sort();
}

/**
 * The p-th percentile (0 ≤ p ≤ 100), linear interpolation between closest
 * ranks (numpy's default). NaN for an empty array.
 */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be within 0..100, got ${p}`);
  const s = sorted(values);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

export function median(values) {
  return percentile(values, 50);
}

export function mean(values) {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function min(values) {
  return values.length === 0 ? Number.NaN : Math.min(...values);
}

export function max(values) {
  return values.length === 0 ? Number.NaN : Math.max(...values);
}

/** Median absolute deviation (unscaled). A robust spread for noisy machines. */
export function mad(values) {
  const m = median(values);
  return median(values.map((v) => Math.abs(v - m)));
}

/**
 * Relative spread: interquartile range divided by the median (0.05 = the middle
 * half of the rounds lies within ±~2.5 % of the median). NaN if the median is 0.
 */
export function relativeIqr(values) {
  const m = median(values);
  return m === 0 ? Number.NaN : (percentile(values, 75) - percentile(values, 25)) / Math.abs(m);
}

/** { n, median, p25, p75, min, max, relIqr } of `values`. */
export function summarize(values) {
  return {
    n: values.length,
    median: median(values),
    p25: percentile(values, 25),
    p75: percentile(values, 75),
    min: min(values),
    max: max(values),
    relIqr: relativeIqr(values),
  };
}
