import { healthSummary, summaryText } from '../lib/format.ts';
import type { Server } from '../lib/types.ts';
import { Badge } from './ui.tsx';

/** A health summary badge of some servers ("3/4 healthy (1 unhealthy)"), coloured by how many are healthy. */
export function HealthCell({ servers }: { servers: readonly Server[] }) {
  const s = healthSummary(servers);
  const tone = s.total === 0 ? 'off' : s.healthy === s.total ? 'ok' : s.healthy === 0 ? 'bad' : 'warn';
  return <Badge tone={tone}>{summaryText(s)}</Badge>;
}
