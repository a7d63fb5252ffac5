import { ApiUnreachable } from './api-client.ts';
import { type Column, colorOn, dash, type Format, healthColor, paint, renderData, renderTable } from './output.ts';
import type { Res, Resolver } from './resolve.ts';

/**
 * `fulcrum events [--follow] [--backend LB/BACKEND] [--server LB/BACKEND/SERVER] …` (issue 16
 * point 2): the stored events oldest first, then (`--follow`) each new one as it happens, read
 * from the Server-Sent Events stream `GET /api/v1/events/stream`.
 */

/** A stored event as the API answers it. */
// biome-ignore lint/suspicious/noExplicitAny: API answers are read by field name, as JSON
export type Event = { id: number; at: string; kind: string } & Record<string, any>;

/** Names for the ids of events: `shop/web/web-3` instead of three ids (servers since removed keep their id). */
export class EventNames {
  readonly #r: Resolver;
  #lbs = new Map<string, string>();
  #backends = new Map<string, { name: string; lb: string }>();
  #servers = new Map<string, string>();
  #loaded = new Set<string>();
  constructor(r: Resolver) {
    this.#r = r;
  }

  /** Reads the names the events refer to (load balancers, backends, their servers). */
  async prime(events: readonly Event[]): Promise<void> {
    const needs = events.some(
      (e) =>
        (e.loadBalancerId && !this.#lbs.has(e.loadBalancerId)) ||
        (e.backendId && !this.#backends.has(e.backendId)) ||
        (e.serverId && !this.#servers.has(e.serverId) && !this.#loaded.has(e.backendId)),
    );
    if (!needs) return;
    this.#r.reset();
    const [lbs, bes] = await Promise.all([this.#r.list('/load-balancers'), this.#r.list('/backends')]);
    for (const l of lbs) this.#lbs.set(l.id, l.name);
    for (const b of bes) this.#backends.set(b.id, { name: b.name, lb: b.loadBalancerId });
    const wanted = new Set(events.filter((e) => e.serverId && e.backendId).map((e) => e.backendId as string));
    await Promise.all(
      [...wanted]
        .filter((id) => this.#backends.has(id))
        .map(async (id) => {
          this.#loaded.add(id);
          for (const s of await this.#r.servers({ id, name: '' } as Res)) this.#servers.set(s.id, s.name);
        }),
    );
  }

  /** `LB/BACKEND/SERVER` (as far as the event names them), ids where a name is unknown. */
  label(e: Event): string {
    const be = e.backendId ? this.#backends.get(e.backendId) : undefined;
    const lbId = e.loadBalancerId ?? be?.lb;
    const parts: string[] = [];
    if (lbId) parts.push(this.#lbs.get(lbId) ?? lbId);
    if (e.backendId) parts.push(be?.name ?? e.backendId);
    if (e.serverId) parts.push(this.#servers.get(e.serverId) ?? e.serverId);
    return parts.join('/') || '-';
  }
}

/** `from → to` of a transition, or what is known. */
function change(e: Event): string {
  if (e.from || e.to) return `${dash(e.from)} → ${dash(e.to)}`;
  return '-';
}

const kindColor = (e: Event) => healthColor(e.to) ?? (e.kind.startsWith('drain') ? 'yellow' : undefined);

/** The columns of the event table. */
export function eventColumns(names: EventNames): Column<Event>[] {
  return [
    { header: 'at', cell: (e) => e.at },
    { header: 'kind', cell: (e) => e.kind },
    { header: 'resource', cell: (e) => names.label(e) },
    { header: 'change', cell: (e) => change(e), color: (e) => kindColor(e) },
    { header: 'reason', cell: (e) => dash(e.reason) },
    { header: 'id', cell: (e) => String(e.id), wide: true, num: true },
  ];
}

/** One event as one line (the stream of `--follow`). */
export function eventLine(e: Event, names: EventNames, color: boolean): string {
  const parts = [
    e.at,
    e.kind.padEnd(12),
    names.label(e).padEnd(24),
    paint(change(e), kindColor(e), color),
    dash(e.reason),
  ];
  return parts.join('  ');
}

export interface EventsOptions {
  output: Format;
  follow?: boolean;
  backend?: string;
  server?: string;
  loadBalancer?: string;
  kind?: string;
  since?: string;
  limit: number;
}

/** The query string of the filters (names resolved to ids). */
async function filters(r: Resolver, o: EventsOptions): Promise<URLSearchParams> {
  const q = new URLSearchParams();
  if (o.server) q.set('serverId', (await r.server(o.server)).server.id);
  if (o.backend) q.set('backendId', (await r.backend(o.backend)).backend.id);
  if (o.loadBalancer) q.set('loadBalancerId', (await r.loadBalancer(o.loadBalancer)).id);
  if (o.kind) q.set('kind', o.kind);
  if (o.since) q.set('since', o.since);
  return q;
}

/** Prints events in the chosen output: lines for tables, one JSON per line, YAML documents. */
function printer(names: EventNames, format: Format): (e: Event) => void {
  const color = colorOn();
  return (e) => {
    if (format === 'json') process.stdout.write(`${JSON.stringify(e)}\n`);
    else if (format === 'yaml') process.stdout.write(`---\n${renderData(e, 'yaml')}\n`);
    else process.stdout.write(`${eventLine(e, names, color)}\n`);
  };
}

/** Reads Server-Sent Events from `body`; calls `on` with each event's id and data. */
async function readSse(body: ReadableStream<Uint8Array>, on: (id: string | undefined, data: string) => Promise<void>) {
  const decoder = new TextDecoder();
  let buf = '';
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) await on(id, data.join('\n'));
    }
  }
}

/** `fulcrum events`. Returns when not following; with `--follow`, runs until interrupted. */
export async function runEvents(r: Resolver, o: EventsOptions): Promise<void> {
  const q = await filters(r, o);
  const names = new EventNames(r);
  const list = new URLSearchParams(q);
  list.set('limit', String(o.limit));
  const events = (await r.api.call<Event[]>('GET', `/events?${list}`)).reverse();
  await names.prime(events);
  if (!o.follow) {
    if (o.output === 'json' || o.output === 'yaml') process.stdout.write(`${renderData(events, o.output)}\n`);
    else {
      const table = renderTable(events, eventColumns(names), { wide: o.output === 'wide', color: colorOn() });
      process.stdout.write(`${table}\n`);
    }
    return;
  }
  const print = printer(names, o.output);
  for (const e of events) print(e);
  let lastId = events.at(-1)?.id ?? 0;
  let first = true;
  for (;;) {
    try {
      const headers: Record<string, string> = lastId > 0 ? { 'last-event-id': String(lastId) } : {};
      const res = await r.api.stream(`/events/stream?${q}`, headers);
      first = false;
      await readSse(res.body!, async (id, data) => {
        const e = JSON.parse(data) as Event;
        if (id) lastId = Number(id);
        await names.prime([e]);
        print(e);
      });
      process.stderr.write('fulcrum: the event stream closed; reconnecting\n');
    } catch (err) {
      if (first) throw err;
      const why = err instanceof ApiUnreachable ? err.message : (err as Error).message;
      process.stderr.write(`fulcrum: event stream: ${why}; reconnecting\n`);
    }
    await new Promise((res) => setTimeout(res, 3000));
  }
}
