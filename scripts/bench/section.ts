/**
 * What every benchmark section returns: a table of figures (ratios measured in one
 * run, next to their absolute values) and the targets it checks. A missed target is
 * reported with its reason; targets are never lowered.
 */
export interface TargetCheck {
  /** What is measured, e.g. "bake bundle size / baseline". */
  name: string;
  /** The target as the issue states it, e.g. "≤ 1.3×". */
  target: string;
  /** The figure, formatted, e.g. "1.08×". */
  measured: string;
  met: boolean;
  /** Why, when the target is missed (or what qualifies the figure). */
  note?: string;
}

export interface BenchSection {
  /** e.g. "1. Cold start". */
  title: string;
  /** One sentence: what was run, on what. */
  method: string;
  /** Column headers and rows of the section's table (already formatted strings). */
  header: string[];
  rows: string[][];
  targets: TargetCheck[];
}

export const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}×`;
export const median = (values: number[]) => quantile(values, 0.5);

/** The q-quantile (0..1) of the values, interpolated between the two nearest. */
export const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low);
};
