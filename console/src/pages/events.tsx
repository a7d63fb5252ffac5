/** The global events timeline (H6): every load balancer's events, live. */
import { Timeline } from '../components/timeline.tsx';
import { namesOf, useLbData } from '../data.ts';

export function EventsPage() {
  const data = useLbData(undefined);
  const d = data.data;
  const servers = d ? [...d.servers.values()].flat() : [];
  return (
    <main className="page" aria-labelledby="page-title">
      <h1 id="page-title">Events</h1>
      <Timeline names={namesOf(d)} backends={d?.backends ?? []} servers={servers} />
    </main>
  );
}
