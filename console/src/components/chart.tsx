/**
 * A live time-series chart (uPlot) for the statistics (issue point 8; O1, P4): requests per
 * second per server, response classes, active connections over the last minutes.
 */
import { useEffect, useId, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const PALETTE = [
  '#2563eb',
  '#16a34a',
  '#dc2626',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
  '#65a30d',
];

export interface ChartProps {
  title: string;
  /** Series labels, one per data column after the time column. */
  labels: readonly string[];
  /** `[times (s), ...columns]` as StatsHistory.columns gives it. */
  data: number[][];
  unit: string;
  height?: number;
}

/** A line chart that keeps its uPlot instance and only swaps data on each sample. */
export function Chart({ title, labels, data, unit, height = 220 }: ChartProps) {
  const id = useId();
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = labels.join('\u0000');
  const dataRef = useRef(data);
  dataRef.current = data;

  // biome-ignore lint/correctness/useExhaustiveDependencies: rebuilt only when the series set changes (key).
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // Until two samples exist, show the last minute rather than a range uPlot guesses.
        x: {
          time: true,
          range: (_u, min, max) => {
            if (min === null || max === null || max - min < 1) {
              const now = Date.now() / 1000;
              return [now - 60, now];
            }
            return [min, max];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.1)] },
      },
      axes: [{}, { label: unit, size: 56 }],
      series: [
        {},
        ...labels.map((label, i) => ({
          label,
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          points: { show: false },
        })),
      ],
    };
    const u = new uPlot(opts, dataRef.current as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(240, el.clientWidth);
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [key, height, unit]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return (
    <figure className="chart" aria-labelledby={`${id}-cap`} data-points={data[0]?.length ?? 0}>
      <figcaption id={`${id}-cap`}>{title}</figcaption>
      {labels.length === 0 ? <p className="muted">No series yet.</p> : null}
      <div ref={box} className="chart-box" role="img" aria-label={`${title} chart`} />
    </figure>
  );
}
