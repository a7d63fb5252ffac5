import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { EventHub } from '../control/events.ts';
import type { StatsCollector } from '../control/stats.ts';

/**
 * Prometheus metrics (O1) in text format for `GET /metrics`: per frontend, backend and
 * server, current and total connections, requests, bytes in/out, responses by class,
 * health and slow-start factor. Values are read from the live counters at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  #stats: StatsCollector;
  #events: EventHub;
  #g: Record<string, Gauge<string>> = {};
  #c: Record<string, Counter<string>> = {};

  constructor(stats: StatsCollector, events: EventHub, options: { processMetrics?: boolean } = {}) {
    this.#stats = stats;
    this.#events = events;
    const r = this.registry;
    const gauge = (name: string, help: string, labelNames: string[]) =>
      (this.#g[name] = new Gauge({ name, help, labelNames, registers: [r] }));
    const counter = (name: string, help: string, labelNames: string[]) =>
      (this.#c[name] = new Counter({ name, help, labelNames, registers: [r] }));
    const fe = ['frontend_id', 'frontend', 'load_balancer_id', 'protocol'];
    const be = ['backend_id', 'backend', 'load_balancer_id'];
    const sv = ['server_id', 'server', 'backend_id'];
    gauge('fulcrum_config_version', 'configVersion applied on this node', []);
    counter('fulcrum_events_dropped_total', 'events that could not be stored', []);
    gauge('fulcrum_frontend_listening', '1 when the frontend is listening (F5)', fe);
    gauge('fulcrum_frontend_connections_active', 'open client connections', fe);
    counter('fulcrum_frontend_connections_total', 'client connections accepted', fe);
    counter('fulcrum_frontend_requests_total', 'requests (http) received', fe);
    counter('fulcrum_frontend_bytes_in_total', 'bytes received from clients', fe);
    counter('fulcrum_frontend_bytes_out_total', 'bytes sent to clients', fe);
    counter('fulcrum_frontend_responses_total', 'responses by status class', [...fe, 'class']);
    counter('fulcrum_frontend_terminations_total', 'requests/connections ended other than normally, by reason', [
      ...fe,
      'reason',
    ]);
    counter('fulcrum_frontend_client_errors_total', 'client socket errors (resets, TLS alerts, …)', fe);
    counter(
      'fulcrum_frontend_proxy_protocol_refused_total',
      'connections closed for a missing, malformed or untrusted PROXY header (acceptProxyProtocol)',
      fe,
    );
    gauge('fulcrum_backend_servers', 'servers configured', be);
    gauge('fulcrum_backend_servers_healthy', 'servers whose health allows traffic', be);
    gauge('fulcrum_backend_connections_active', 'open connections to the servers', be);
    counter('fulcrum_backend_requests_total', 'requests sent to the servers', be);
    counter('fulcrum_backend_no_server_total', 'requests or connections refused because no server was available', be);
    counter('fulcrum_backend_responses_total', 'responses by status class', [...be, 'class']);
    // issue 15 point 4: the queue for servers at their maxConnections
    gauge('fulcrum_backend_queue_length', 'requests (tcp: connections) waiting for a server slot', be);
    gauge('fulcrum_backend_queue_max_length', 'queue.maxLength configured (0 = no queue)', be);
    counter('fulcrum_backend_queue_total', 'requests (tcp: connections) that entered the queue', be);
    counter('fulcrum_backend_queue_served_total', 'waiters served by a freed slot', be);
    counter('fulcrum_backend_queue_timeouts_total', 'waiters refused after queue.timeoutSeconds (queue-timeout)', be);
    counter('fulcrum_backend_queue_full_total', 'requests refused because the queue was full or off (queue-full)', be);
    counter('fulcrum_backend_queue_wait_seconds_total', 'time the served waiters spent in the queue', be);
    gauge('fulcrum_backend_queue_wait_seconds_max', 'longest wait of a served waiter', be);
    gauge('fulcrum_server_healthy', '1 healthy, 0 unhealthy, -1 unknown (H4-H6)', sv);
    gauge('fulcrum_server_slow_start_factor', 'slow-start share from 0 to 1 (SS1)', sv);
    gauge('fulcrum_server_weight', 'configured weight (S4)', sv);
    gauge('fulcrum_server_state', '1 for the server state it is in', [...sv, 'state']);
    gauge('fulcrum_server_connections_active', 'open connections', sv);
    gauge('fulcrum_server_connection_limit', 'maxConnections in force now, slow start included (0 = unlimited)', sv);
    counter('fulcrum_server_connections_total', 'connections opened', sv);
    counter('fulcrum_server_requests_total', 'requests sent (P4)', sv);
    counter('fulcrum_server_bytes_in_total', 'bytes received from the server', sv);
    counter('fulcrum_server_bytes_out_total', 'bytes sent to the server', sv);
    counter('fulcrum_server_failures_total', 'failed requests or connections (H7)', sv);
    counter('fulcrum_server_responses_total', 'responses by status class', [...sv, 'class']);
    counter('fulcrum_server_terminations_total', 'requests/connections ended other than normally, by reason', [
      ...sv,
      'reason',
    ]);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: r, prefix: 'fulcrum_process_' });
  }

  #refresh(): void {
    const v = this.#stats.view();
    for (const m of Object.values(this.#g)) m.reset();
    for (const m of Object.values(this.#c)) m.reset();
    const g = this.#g;
    const c = this.#c;
    const inc = (name: string, labels: Record<string, string>, n: number) => c[name]!.inc(labels, Math.max(0, n));
    g.fulcrum_config_version!.set(v.configVersion);
    inc('fulcrum_events_dropped_total', {}, this.#events.dropped);
    for (const f of v.frontends) {
      const l = { frontend_id: f.id, frontend: f.name, load_balancer_id: f.loadBalancerId, protocol: f.protocol };
      g.fulcrum_frontend_listening!.set(l, f.listening ? 1 : 0);
      g.fulcrum_frontend_connections_active!.set(l, f.activeConnections);
      inc('fulcrum_frontend_connections_total', l, f.totalConnections);
      inc('fulcrum_frontend_requests_total', l, f.requests);
      inc('fulcrum_frontend_bytes_in_total', l, f.bytesIn);
      inc('fulcrum_frontend_bytes_out_total', l, f.bytesOut);
      for (const [cls, n] of Object.entries(f.responses))
        inc('fulcrum_frontend_responses_total', { ...l, class: cls }, n);
      for (const [reason, n] of Object.entries(f.terminations))
        inc('fulcrum_frontend_terminations_total', { ...l, reason }, n);
      inc('fulcrum_frontend_client_errors_total', l, f.clientErrors);
      inc('fulcrum_frontend_proxy_protocol_refused_total', l, f.proxyProtocolRefused);
    }
    for (const b of v.backends) {
      const l = { backend_id: b.id, backend: b.name, load_balancer_id: b.loadBalancerId };
      g.fulcrum_backend_servers!.set(l, b.servers);
      g.fulcrum_backend_servers_healthy!.set(l, b.healthy);
      g.fulcrum_backend_connections_active!.set(l, b.activeConnections);
      inc('fulcrum_backend_requests_total', l, b.requests);
      inc('fulcrum_backend_no_server_total', l, b.noServer);
      for (const [cls, n] of Object.entries(b.responses))
        inc('fulcrum_backend_responses_total', { ...l, class: cls }, n);
      const q = b.queue;
      g.fulcrum_backend_queue_length!.set(l, q.length);
      g.fulcrum_backend_queue_max_length!.set(l, q.maxLength);
      inc('fulcrum_backend_queue_total', l, q.queued);
      inc('fulcrum_backend_queue_served_total', l, q.served);
      inc('fulcrum_backend_queue_timeouts_total', l, q.timeouts);
      inc('fulcrum_backend_queue_full_total', l, q.full);
      inc('fulcrum_backend_queue_wait_seconds_total', l, q.waitMsTotal / 1000);
      g.fulcrum_backend_queue_wait_seconds_max!.set(l, q.waitMsMax / 1000);
    }
    for (const s of v.servers) {
      const l = { server_id: s.id, server: s.name, backend_id: s.backendId };
      g.fulcrum_server_healthy!.set(l, s.health === 'healthy' ? 1 : s.health === 'unhealthy' ? 0 : -1);
      g.fulcrum_server_slow_start_factor!.set(l, s.slowStartFactor);
      g.fulcrum_server_weight!.set(l, s.weight);
      g.fulcrum_server_state!.set({ ...l, state: s.state }, 1);
      g.fulcrum_server_connections_active!.set(l, s.activeConnections);
      g.fulcrum_server_connection_limit!.set(l, s.connectionLimit);
      inc('fulcrum_server_connections_total', l, s.totalConnections);
      inc('fulcrum_server_requests_total', l, s.requests);
      inc('fulcrum_server_bytes_in_total', l, s.bytesIn);
      inc('fulcrum_server_bytes_out_total', l, s.bytesOut);
      inc('fulcrum_server_failures_total', l, s.failures);
      for (const [cls, n] of Object.entries(s.responses))
        inc('fulcrum_server_responses_total', { ...l, class: cls }, n);
      for (const [reason, n] of Object.entries(s.terminations))
        inc('fulcrum_server_terminations_total', { ...l, reason }, n);
    }
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    this.#refresh();
    return this.registry.metrics();
  }

  /** The content type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
