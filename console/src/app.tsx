/**
 * The console shell (SPEC C3): sign-in with an API token (the session lives in the HttpOnly
 * `fulcrum_session` cookie, never in storage), navigation, lookup box, notifications and the
 * routes of `lib/route.ts`.
 */
import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { describe, FieldFoot } from './components/ui.tsx';
import { type AppServices, Services, useServices } from './hooks.ts';
import { Api, ApiError } from './lib/api.ts';
import { Live, type StreamState } from './lib/live.ts';
import { permissions } from './lib/roles.ts';
import { href, parseRoute, type Route } from './lib/route.ts';
import { BackendPage } from './pages/backend.tsx';
import { CertificatesPage } from './pages/certificates.tsx';
import { EventsPage } from './pages/events.tsx';
import { FrontendPage } from './pages/frontend.tsx';
import { InstancesPage } from './pages/instances.tsx';
import { LoadBalancerPage } from './pages/load-balancer.tsx';
import { LoadBalancersPage } from './pages/load-balancers.tsx';
import { LookupPage } from './pages/lookup.tsx';
import { NodesPage } from './pages/nodes.tsx';

type Auth = 'checking' | 'signed-out' | 'signed-in';

/** The signed-in token's name and role (GET /api/v1/session). */
interface Who {
  name: string;
  role: string;
}

interface Toast {
  id: number;
  message: string;
  kind: 'ok' | 'error';
}

function useHashRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function App() {
  const api = useMemo(() => new Api('/api/v1'), []);
  const live = useMemo(() => new Live(api), [api]);
  const [auth, setAuth] = useState<Auth>('checking');
  const [who, setWho] = useState<Who | null>(null);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);

  const notify = useCallback((message: string, kind: 'ok' | 'error' = 'ok') => {
    const id = nextId.current++;
    setToasts((t) => [...t.slice(-2), { id, message, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 12_000 : 6000);
  }, []);

  useEffect(() => {
    api.onUnauthorized = () => setAuth('signed-out');
    const ctl = new AbortController();
    api
      .get<Who>('/session', ctl.signal)
      .then((w) => {
        setWho(w);
        setAuth('signed-in');
      })
      .catch((e: unknown) => {
        if (ctl.signal.aborted) return;
        setAuth('signed-out');
        if (!(e instanceof ApiError && e.status === 401))
          notify(`The API is not reachable: ${(e as Error).message}`, 'error');
      });
    return () => ctl.abort();
  }, [api, notify]);

  useEffect(() => {
    if (auth === 'signed-in') live.start();
    else live.stop();
  }, [auth, live]);

  const role = who?.role;
  const services: AppServices = useMemo(
    () => ({ api, live, notify, can: permissions(role) }),
    [api, live, notify, role],
  );

  return (
    <Services.Provider value={services}>
      {auth === 'checking' ? <p className="muted center">Loading…</p> : null}
      {auth === 'signed-out' ? (
        <SignIn
          onSignedIn={(w) => {
            setWho(w);
            setAuth('signed-in');
          }}
        />
      ) : null}
      {auth === 'signed-in' ? (
        <Shell
          who={who}
          onSignOut={async () => {
            try {
              await api.signOut();
            } catch {
              // the session may already be gone; signing out locally is what counts
            }
            setAuth('signed-out');
          }}
        />
      ) : null}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.kind}`}>
            <span>{t.message}</span>
            <button
              type="button"
              className="icon"
              aria-label="Dismiss"
              onClick={() => setToasts((x) => x.filter((y) => y.id !== t.id))}
            >
              ✕
            </button>
          </div>
        ))}
      </div>
    </Services.Provider>
  );
}

function SignIn({ onSignedIn }: { onSignedIn: (who: Who | null) => void }) {
  const { api } = useServices();
  const id = useId();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!token.trim()) {
      setError('Enter the API token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const w = await api.signIn(token.trim());
      setToken('');
      onSignedIn(w && typeof w === 'object' && 'name' in w ? (w as Who) : null);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'That token is not valid.' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin" aria-labelledby="signin-title">
      <form onSubmit={submit} noValidate className="signin-card">
        <h1 id="signin-title">Fulcrum</h1>
        <p className="muted">Sign in with an API token. The console keeps only a session cookie.</p>
        <div className={error ? 'field has-error' : 'field'}>
          <label htmlFor={id}>API token</label>
          <input
            id={id}
            type="password"
            autoComplete="current-password"
            value={token}
            aria-invalid={error ? true : undefined}
            aria-describedby={describe(id, undefined, error)}
            onChange={(e) => setToken(e.target.value)}
          />
          <FieldFoot id={id} error={error} />
        </div>
        <button type="submit" className="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}

const streamLabel: Record<StreamState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  off: 'offline',
};

function Shell({ onSignOut, who }: { onSignOut: () => void; who: Who | null }) {
  const { live } = useServices();
  const route = useHashRoute();
  const [q, setQ] = useState('');
  const [stream, setStream] = useState<StreamState>(live.state);
  const [menu, setMenu] = useState(false);
  const searchId = useId();
  useEffect(() => live.onState(setStream), [live]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: close the narrow-screen menu on every navigation.
  useEffect(() => setMenu(false), [route]);
  const section =
    route.page === 'load-balancer' || route.page === 'backend' || route.page === 'frontend'
      ? 'load-balancers'
      : route.page;
  const nav = [
    { page: 'load-balancers', label: 'Load balancers' },
    { page: 'lookup', label: 'Lookup' },
    { page: 'events', label: 'Events' },
    { page: 'instances', label: 'Instances' },
    { page: 'certificates', label: 'Certificates' },
    { page: 'nodes', label: 'Nodes' },
  ] as const;
  return (
    <>
      <header className="topbar">
        <a className="brand" href={href({ page: 'load-balancers' })}>
          Fulcrum
        </a>
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menu}
          aria-controls="main-nav"
          onClick={() => setMenu((m) => !m)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menu ? 'open' : ''}>
          {nav.map((n) => (
            <a
              key={n.page}
              href={href(n.page === 'lookup' ? { page: 'lookup', q: '' } : { page: n.page })}
              aria-current={section === n.page ? 'page' : undefined}
            >
              {n.label}
            </a>
          ))}
        </nav>
        <search>
          <form
            className="topsearch"
            onSubmit={(e) => {
              e.preventDefault();
              location.hash = href({ page: 'lookup', q: q.trim() });
            }}
          >
            <label htmlFor={searchId} className="visually-hidden">
              Find servers by IP address or id
            </label>
            <input
              id={searchId}
              type="search"
              placeholder="Find IP or id…"
              value={q}
              onChange={(e) => setQ(e.target.value)}
            />
          </form>
        </search>
        <span className={`stream ${stream}`} title="Live updates from the events stream">
          {streamLabel[stream]}
        </span>
        {who ? (
          <span className="who" title={`Signed in with the token "${who.name}" (role ${who.role})`}>
            {who.name === who.role ? who.name : `${who.name} · ${who.role}`}
          </span>
        ) : null}
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <Page route={route} />
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'load-balancers':
      return <LoadBalancersPage />;
    case 'load-balancer':
      return <LoadBalancerPage key={route.id} id={route.id} tab={route.tab} />;
    case 'backend':
      return <BackendPage key={route.id} id={route.id} />;
    case 'frontend':
      return <FrontendPage key={route.id} id={route.id} />;
    case 'lookup':
      return <LookupPage key={route.q} q={route.q} />;
    case 'events':
      return <EventsPage />;
    case 'instances':
      return <InstancesPage />;
    case 'certificates':
      return <CertificatesPage />;
    case 'nodes':
      return <NodesPage />;
  }
}
