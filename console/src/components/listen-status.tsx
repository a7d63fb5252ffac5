import type { Frontend } from '../lib/types.ts';
import { Badge } from './ui.tsx';

/** Listening status with the reason when not listening (issue point 3; F5). */
export function ListenStatus({ frontend }: { frontend: Frontend }) {
  const st = frontend.status;
  return st.listening ? (
    <Badge tone="ok">listening</Badge>
  ) : (
    <span>
      <Badge tone="bad">not listening</Badge> <span className="reason">{st.reason ?? 'unknown reason'}</span>
    </span>
  );
}
