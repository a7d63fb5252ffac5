import { stringify as toYaml } from 'yaml';
import { UsageError } from './api-client.ts';

/**
 * How the CLI prints what it reads (issue 16 point 2): aligned tables by default, `wide` with
 * more columns, or the API's own JSON as `json` or `yaml`. Colour (health, state) only on a
 * terminal, never with NO_COLOR; FORCE_COLOR turns it on elsewhere.
 */

export const Formats = ['table', 'wide', 'json', 'yaml'] as const;
export type Format = (typeof Formats)[number];

/** The `-o` parser: one of Formats, else a usage error naming the flag. */
export function parseFormat(v: string): Format {
  if (!(Formats as readonly string[]).includes(v)) {
    throw new UsageError(`-o, --output: must be one of ${Formats.join(', ')} (got "${v}")`);
  }
  return v as Format;
}

/** Whether to colour what goes to `stream`: FORCE_COLOR (not 0) forces it, NO_COLOR forbids it, else a TTY. */
export function colorOn(stream: { isTTY?: boolean } = process.stdout, env = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true;
}

const SGR = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Color = keyof typeof SGR;

export function paint(text: string, color: Color | undefined, on: boolean): string {
  return on && color ? `\x1b[${SGR[color]}m${text}\x1b[0m` : text;
}

/** The colour of a server's health. */
export function healthColor(health: string): Color | undefined {
  return health === 'healthy' ? 'green' : health === 'unhealthy' ? 'red' : health === 'unknown' ? 'yellow' : undefined;
}

/** The colour of a server's state. */
export function stateColor(state: string): Color | undefined {
  return (
    { active: 'green', 'slow-start': 'cyan', draining: 'yellow', disabled: 'gray', passive: 'blue' } as Record<
      string,
      Color
    >
  )[state];
}

/** One column of a table: its header, its cell, only in `wide`, its colour. */
export interface Column<T> {
  header: string;
  cell(row: T): string;
  wide?: boolean;
  /** Right-aligned (numbers). */
  num?: boolean;
  color?(row: T): Color | undefined;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** Printed width of a cell (colour sequences take none). */
function width(s: string): number {
  return [...s.replace(ANSI, '')].length;
}

/**
 * The rows as an aligned table: upper-case headers, columns separated by three spaces, `wide`
 * columns only when asked. Empty list: the headers alone.
 */
export function renderTable<T>(
  rows: readonly T[],
  columns: readonly Column<T>[],
  options: { wide?: boolean; color?: boolean } = {},
): string {
  const cols = columns.filter((c) => options.wide || !c.wide);
  const cells = rows.map((r) => cols.map((c) => paint(c.cell(r), c.color?.(r), options.color === true)));
  const widths = cols.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i]!))));
  const line = (parts: string[]) =>
    parts
      .map((p, i) => {
        const pad = ' '.repeat(widths[i]! - width(p));
        if (cols[i]!.num) return pad + p;
        return i === parts.length - 1 ? p : p + pad;
      })
      .join('   ')
      .trimEnd();
  return [line(cols.map((c) => c.header.toUpperCase())), ...cells.map(line)].join('\n');
}

/** The API's answer as `json` (two-space indent) or `yaml`. */
export function renderData(data: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(data, null, 2) : toYaml(data, { lineWidth: 0 }).trimEnd();
}

/** A cell for a value that may be missing. */
export function dash(v: unknown): string {
  return v === undefined || v === null || v === '' ? '-' : String(v);
}

/** Time since an ISO time, shortly (`5s`, `3m`, `2h`, `4d`). */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (Number.isNaN(s)) return '-';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
