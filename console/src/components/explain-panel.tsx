/**
 * The "Explain" panel of the frontend and backend pages (issue 16 point 1): where the next
 * request of a client goes and why, from `GET /frontends/{id}/explain` or
 * `GET /backends/{id}/explain` — the rules tried, the persistence decision, every server's
 * eligibility, weight and expected share, and the next server. No traffic is sent. A refusal
 * (400 naming the parameter) is shown beside its field.
 */
import { useId, useState } from 'react';
import { useForm, useServices } from '../hooks.ts';
import { AlgorithmLabels } from '../lib/backend-form.ts';
import {
  describeMatch,
  type ExplainKind,
  emptyExplainValues,
  explainFieldsFor,
  explainQuery,
  nextSummary,
  percent,
  ruleOutcome,
} from '../lib/explain.ts';
import { href } from '../lib/route.ts';
import type { Explanation } from '../lib/types.ts';
import { Badge, DataTable, FormError, TextField, useSave } from './ui.tsx';

export interface ExplainPanelProps {
  kind: ExplainKind;
  id: string;
  /** The frontend's protocol: host, path, method and header are asked only for HTTP(S). */
  protocol?: string;
}

export function ExplainPanel({ kind, id, protocol }: ExplainPanelProps) {
  const { api } = useServices();
  const headingId = useId();
  const formId = useId();
  const form = useForm(emptyExplainValues);
  const fields = explainFieldsFor(kind, protocol);
  const { busy, save } = useSave(form, fields);
  const [answer, setAnswer] = useState<Explanation | null>(null);
  const has = (f: string) => fields.includes(f);

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const { query, errors } = explainQuery(form.values, fields);
    form.setFormError(null);
    if (Object.keys(errors).length) {
      form.setErrors(errors);
      setAnswer(null);
      return;
    }
    form.setErrors({});
    void save(async () => {
      setAnswer(null);
      setAnswer(await api.get<Explanation>(`/${kind}s/${encodeURIComponent(id)}/explain${query}`));
    });
  };

  return (
    <section className="explain" aria-labelledby={headingId} data-explain>
      <h2 id={headingId}>Explain</h2>
      <p className="muted">
        Where does a client's next request go, and why? Answered from the running configuration and live state, with the
        same code that serves traffic; no request is sent.
      </p>
      <form id={formId} noValidate onSubmit={submit} className="grid-form explain-form">
        <FormError message={form.formError} />
        <TextField
          form={form}
          path="client"
          label="Client IP"
          placeholder="203.0.113.7"
          hint="required; IP or IP:port"
        />
        {has('host') ? (
          <TextField form={form} path="host" label="Host" placeholder="www.shop.example" hint="optional" />
        ) : null}
        {has('path') ? (
          <TextField form={form} path="path" label="Path" placeholder="/cart?id=3" hint="optional, default /" />
        ) : null}
        {has('method') ? (
          <TextField form={form} path="method" label="Method" placeholder="GET" hint="optional, default GET" />
        ) : null}
        {has('header') ? (
          <TextField form={form} path="header" label="Header" placeholder="X-Canary: 1" hint="optional, name:value" />
        ) : null}
        {has('cookie') ? (
          <TextField
            form={form}
            path="cookie"
            label="Cookie"
            placeholder="FULCRUM_SRV=…"
            hint="optional, the Cookie header (persistence)"
          />
        ) : null}
        <div className="wide-field buttons">
          <button type="submit" className="primary" disabled={busy}>
            Explain
          </button>
        </div>
      </form>
      <div aria-live="polite">{answer ? <ExplainAnswer e={answer} /> : null}</div>
    </section>
  );
}

function ExplainAnswer({ e }: { e: Explanation }) {
  const name = (sid: string | null) => (sid ? (e.servers.find((s) => s.id === sid)?.name ?? sid) : '—');
  const r = e.routing;
  const p = e.persistence;
  return (
    <div className="explain-answer" data-explain-answer>
      <p className="explain-next" data-next>
        <strong>Next server: {nextSummary(e)}</strong>
        <br />
        <span className="muted">{e.next.reason}</span>
      </p>
      <p>
        Client <span className="mono">{e.client.address}</span>
        {e.client.port !== null ? ` port ${e.client.port}` : ''}
        {e.frontend ? ` → frontend ${e.frontend.name} (${e.frontend.protocol})` : ''}
      </p>
      {r ? (
        <>
          <h3>Routing</h3>
          {r.request.method ? (
            <p>
              Request <span className="mono">{`${r.request.method} ${r.request.path}`}</span>
              {r.request.host ? (
                <>
                  , host <span className="mono">{r.request.host}</span>
                </>
              ) : null}
            </p>
          ) : null}
          {r.rules.length ? (
            <ol className="explain-rules" aria-label="Rules tried, in order">
              {r.rules.map((t) => (
                <li key={t.index} data-rule={t.index} data-matched={t.matched}>
                  <Badge tone={t.matched ? 'ok' : 'off'}>{t.matched ? 'matched' : 'no match'}</Badge> Rule {t.index + 1}{' '}
                  ({describeMatch(t.match)}): {ruleOutcome(t)}
                </li>
              ))}
            </ol>
          ) : null}
          <p data-routing-reason>
            {/* the API counts rules from 0; the console, like the frontend dialog, from 1 */}
            {r.matchedRule !== null
              ? `Rule ${r.matchedRule + 1} matched: the request goes to backend ${e.backend?.name ?? r.backendId}.`
              : r.reason}
          </p>
        </>
      ) : null}
      {e.backend ? (
        <>
          <h3>
            Backend <a href={href({ page: 'backend', id: e.backend.id })}>{e.backend.name}</a>
          </h3>
          <p>
            Load balancing method:{' '}
            {AlgorithmLabels[e.backend.algorithm as keyof typeof AlgorithmLabels] ?? e.backend.algorithm}
          </p>
          {p ? (
            <p data-persistence>
              Persistence {p.type}
              {p.type !== 'none' ? (
                <>
                  : <strong>{p.outcome}</strong>
                </>
              ) : null}{' '}
              — {p.reason}
              {p.pinnedServerId ? ` (session names ${name(p.pinnedServerId)})` : ''}
              {p.cookieExpiresAt ? `; cookie expires ${p.cookieExpiresAt}` : ''}
              {p.configError ? `; ${p.configError}` : ''}
            </p>
          ) : null}
          {e.passives ? <p>Passive servers: {e.passives.reason}</p> : null}
          <DataTable
            caption="Servers: eligibility, weight and expected share"
            columns={[
              'Server',
              'Address',
              'Eligible',
              'Reason',
              { label: 'Weight', num: true },
              { label: 'Effective weight', num: true },
              { label: 'Expected share', num: true },
              { label: 'Connections', num: true },
            ]}
            rows={e.servers}
            row={(s) => (
              <tr key={s.id} data-server={s.name}>
                <td>
                  {s.name}
                  {s.passive ? ' (passive)' : ''}
                </td>
                <td className="mono">
                  {s.address}:{s.port}
                </td>
                <td>
                  <Badge tone={s.eligible ? 'ok' : 'bad'}>{s.eligible ? 'eligible' : 'not eligible'}</Badge>
                </td>
                <td>{s.eligible ? (s.detail === 'eligible' ? '' : s.detail) : `${s.reason}: ${s.detail}`}</td>
                <td className="num">{s.weight}</td>
                <td className="num">
                  {s.effectiveWeight}
                  {s.slowStartFactor < 1 ? ` (slow start ${Math.round(s.slowStartFactor * 100)} %)` : ''}
                </td>
                <td className="num">{percent(s.expectedShare)}</td>
                <td className="num">{s.activeConnections}</td>
              </tr>
            )}
          />
          {!e.next.exact && e.next.candidates.length ? (
            <DataTable
              caption="Next server candidates"
              columns={[
                'Server',
                { label: 'Probability', num: true },
                { label: 'Connections', num: true },
                { label: 'Time to first byte (EWMA)', num: true },
                { label: 'Score (lower wins)', num: true },
              ]}
              rows={e.next.candidates}
              row={(c) => (
                <tr key={c.serverId} data-candidate={name(c.serverId)}>
                  <td>{name(c.serverId)}</td>
                  <td className="num">{percent(c.probability)}</td>
                  <td className="num">{c.activeConnections}</td>
                  <td className="num">{Math.round(c.ewmaTtfbMs * 10) / 10} ms</td>
                  <td className="num">{Math.round(c.score * 1000) / 1000}</td>
                </tr>
              )}
            />
          ) : null}
        </>
      ) : null}
    </div>
  );
}
