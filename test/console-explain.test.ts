import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import {
  type ConsoleWorld,
  consoleSteps,
  namedBackend,
  type Product,
  shot,
  signIn,
  startConsoleWorld,
} from './console-support.ts';
import { freePort } from './helpers/plane.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core in the page (evaluated over DevTools: the CSP refuses inline scripts); no serious violations. */
async function axe(page: Page, where: string): Promise<void> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(`${AXE}\n;true`);
  const found: { id: string; impact: string; nodes: string[] }[] = await page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: axe is injected as a script
    const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    // biome-ignore lint/suspicious/noExplicitAny: axe's result shape
    return r.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n: any) => n.target) }));
  });
  const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${where}: ${JSON.stringify(bad)}`);
}

// issue 16: the Explain panel of the frontend and backend pages, and servers added as the step
// that follows Create Backend.
describe('web console: explain, and add servers while creating a backend', { timeout: 180_000 }, () => {
  const it = consoleSteps('console-explain', () => page);
  let world: ConsoleWorld;
  let product: Product;
  let page: Page;
  let origins: Awaited<ReturnType<typeof namedBackend>>[];
  let lb: { id: string };
  let web: { id: string };
  let api: { id: string };
  let fe: { id: string };
  const originPort = (i: number) => (origins[i] as { port: number }).port;

  before(async () => {
    let port: number;
    [world, port, ...origins] = await Promise.all([
      startConsoleWorld(),
      freePort(),
      namedBackend('web-1'),
      namedBackend('api-1'),
      namedBackend('api-2'),
    ]);
    ({ product, page } = world);
    lb = await product.api('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    const backend = async (name: string, servers: { name: string; port: number }[]) => {
      const b = await product.api('POST', '/backends', {
        loadBalancerId: lb.id,
        name,
        mode: 'http',
        algorithm: 'round-robin',
        healthCheck: { enabled: false },
      });
      for (const s of servers) {
        await product.api('POST', `/backends/${b.id}/servers`, { ...s, serverType: 'web', address: '127.0.0.1' });
      }
      return b;
    };
    web = await backend('web', [{ name: 'web-1', port: originPort(0) }]);
    api = await backend('api', [
      { name: 'api-1', port: originPort(1) },
      { name: 'api-2', port: originPort(2) },
    ]);
    fe = await product.api('POST', '/frontends', {
      loadBalancerId: lb.id,
      name: 'www',
      protocol: 'http',
      port,
      defaultBackendId: web.id,
      rules: [
        { match: { host: 'admin.shop.example' }, backendId: api.id },
        { match: { pathPrefix: '/api/' }, backendId: api.id },
      ],
    });
    await signIn(page, product.url);
  });

  after(async () => {
    await world?.close();
    for (const o of origins ?? []) await o?.close();
  });

  it('explains a client whose request matches a rule: the rules tried, the servers and the next one', async () => {
    const q = 'client=203.0.113.7&path=%2Fapi%2Fusers';
    let expected: { next: { serverId: string }; servers: { id: string; name: string }[] } | undefined;
    for (let i = 0; i < 50 && !expected; i++) {
      expected = await product.api('GET', `/frontends/${fe.id}/explain?${q}`).catch(() => undefined);
      if (!expected) await new Promise((r) => setTimeout(r, 100)); // until the data plane has applied it
    }
    assert.ok(expected, 'the API explains the frontend');
    const nextName = expected.servers.find((s) => s.id === expected.next.serverId)?.name;
    assert.ok(nextName === 'api-1' || nextName === 'api-2', `next ${nextName}`);

    await page.goto(`${product.url}/#/frontends/${fe.id}`);
    const panel = page.getByRole('region', { name: 'Explain' });
    await panel.waitFor();
    // keyboard only: type into the labelled fields, submit with Enter
    await panel.getByLabel('Client IP').focus();
    await page.keyboard.type('203.0.113.7');
    await panel.getByLabel('Path').focus();
    await page.keyboard.type('/api/users');
    await page.keyboard.press('Enter');
    const answer = panel.locator('[data-explain-answer]');
    await answer.waitFor();
    const rules = answer.getByRole('list', { name: 'Rules tried, in order' });
    assert.match(
      (await rules.locator('[data-rule="0"]').textContent()) ?? '',
      /Rule 1 \(host admin\.shop\.example\).*did not match: host wants admin\.shop\.example/,
    );
    const matched = rules.locator('[data-matched="true"]');
    assert.match((await matched.textContent()) ?? '', /Rule 2 \(path prefix \/api\/\).*matched → backend api/);
    assert.match((await answer.locator('[data-routing-reason]').textContent()) ?? '', /Rule 2 matched.*backend api/);
    assert.equal(await answer.locator('tr[data-server]').count(), 2, 'every server of backend api');
    for (const name of ['api-1', 'api-2']) {
      const row = answer.locator(`tr[data-server="${name}"]`);
      assert.match((await row.textContent()) ?? '', /eligible.*50 %/);
    }
    assert.match(
      (await answer.locator('[data-next]').textContent()) ?? '',
      new RegExp(`Next server: ${nextName} \\(exact, by balancer\\)`),
    );
    await shot(page, 'console-explain-frontend');
    await axe(page, 'frontend page with an explanation');
  });

  it('shows a refused client IP (400) beside the client field', async () => {
    const panel = page.getByRole('region', { name: 'Explain' });
    const client = panel.getByLabel('Client IP');
    await client.fill('300.1.2.3');
    await client.press('Enter');
    const error = panel.locator('[data-field="client"] .field-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /client: expected an IP address/);
    assert.equal(await client.getAttribute('aria-invalid'), 'true');
    assert.equal(await panel.locator('[data-explain-answer]').count(), 0, 'no stale answer beside the error');
    await axe(page, 'explain panel with a refusal');
  });

  it('explains a backend from its page: persistence, servers and the next server', async () => {
    await page.goto(`${product.url}/#/backends/${web.id}`);
    const panel = page.getByRole('region', { name: 'Explain' });
    await panel.getByLabel('Client IP').fill('198.51.100.4');
    assert.equal(await panel.getByLabel('Path').count(), 0, 'a backend takes client and cookie only');
    await panel.getByRole('button', { name: 'Explain' }).click();
    const answer = panel.locator('[data-explain-answer]');
    await answer.waitFor();
    assert.match((await answer.locator('[data-persistence]').textContent()) ?? '', /Persistence none/);
    assert.match((await answer.locator('tr[data-server="web-1"]').textContent()) ?? '', /eligible.*100 %/);
    assert.match((await answer.locator('[data-next]').textContent()) ?? '', /Next server: web-1 \(exact/);
  });

  it('adds two servers as the step after Create Backend, and both are in its servers table', async () => {
    await product.api('POST', '/instances', { name: 'app-a', privateIp: '127.0.0.1', serverType: 'application' });
    await page.goto(`${product.url}/#/load-balancers/${lb.id}/backends`);
    await page.getByRole('button', { name: 'Create backend' }).click();
    const be = page.getByRole('dialog', { name: 'Create backend' });
    await be.getByLabel('Name', { exact: true }).fill('pool');
    await be.getByRole('button', { name: 'Create backend' }).click();
    const step = page.getByRole('dialog', { name: 'Add servers to pool' });
    await step.waitFor();
    await axe(page, 'add servers step');
    await step.getByRole('checkbox', { name: /app-a — 127\.0\.0\.1/ }).check();
    await step.getByLabel('Port of the inventory servers').fill(String(originPort(1)));
    await step.getByLabel('Server 1 name').fill('pool-custom');
    await step.getByLabel('Server 1 IP address').fill('127.0.0.1');
    await step.getByLabel('Server 1 port').fill(String(originPort(2)));
    await shot(page, 'console-explain-add-servers-step');
    await step.getByRole('button', { name: 'Add servers' }).click();
    await step.waitFor({ state: 'hidden' });
    const backends = await product.api('GET', `/backends?loadBalancerId=${lb.id}`);
    const pool = (backends.items ?? backends).find((b: { name: string }) => b.name === 'pool');
    await page.goto(`${product.url}/#/backends/${pool.id}`);
    await page.locator('tr[data-server="app-a"]').waitFor();
    await page.locator('tr[data-server="pool-custom"]').waitFor();
    const servers = await product.api('GET', `/backends/${pool.id}/servers`);
    assert.deepEqual((servers.items ?? servers).map((s: { name: string }) => s.name).sort(), ['app-a', 'pool-custom']);
  });

  it('leaves the backend created when the step is closed, and refuses beside the row', async () => {
    await page.goto(`${product.url}/#/load-balancers/${lb.id}/backends`);
    await page.getByRole('button', { name: 'Create backend' }).click();
    const be = page.getByRole('dialog', { name: 'Create backend' });
    await be.getByLabel('Name', { exact: true }).fill('later');
    await be.getByLabel('Name', { exact: true }).press('Enter');
    const step = page.getByRole('dialog', { name: 'Add servers to later' });
    await step.waitFor();
    // no default port on the backend and none typed: the API refuses, beside the row's port
    await step.getByLabel('Server 1 IP address').fill('127.0.0.1');
    await step.getByLabel('Server 1 IP address').press('Enter');
    const error = step.locator('[data-field="row:1.port"] .field-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /port/);
    await page.keyboard.press('Escape');
    await step.waitFor({ state: 'hidden' });
    await page.locator('tr[data-backend="later"]').waitFor();
    const backends = await product.api('GET', `/backends?loadBalancerId=${lb.id}`);
    const later = (backends.items ?? backends).find((b: { name: string }) => b.name === 'later');
    const servers = await product.api('GET', `/backends/${later.id}/servers`);
    assert.equal((servers.items ?? servers).length, 0);
    assert.deepEqual(world.watch.errors, [], 'no console errors');
  });
});
