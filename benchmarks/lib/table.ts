/** Plain-text tables and a progress line for benchmark output. */

export type Cell = string | number | null | undefined;

/** Formats a number for a table: NaN/undefined → "—", thousands separated, fixed decimals. */
export function fmt(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "1.07×" or "—". */
export function fmtRatio(value: number | null | undefined): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : `${value.toFixed(2)}×`;
}

/** Renders rows under a header; the first `leftColumns` columns are left-aligned, the rest right-aligned. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  leftColumns = 1,
): string {
  const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? '—' : String(c))));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n');
}

/**
 * A progress line on stderr: rewritten in place on a terminal, printed every `everyMs` otherwise
 * (so CI logs stay short).
 */
export function createProgress(everyMs = 5_000): { update(text: string): void; done(text?: string): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    update(text) {
      if (tty) {
        process.stderr.write(`\r\x1b[2K${text}`);
        shown = true;
      } else if (Date.now() - last >= everyMs) {
        process.stderr.write(`${text}\n`);
        last = Date.now();
      }
    },
    done(text) {
      if (tty && shown) process.stderr.write('\r\x1b[2K');
      shown = false;
      last = 0;
      if (text) process.stderr.write(`${text}\n`);
    },
  };
}
