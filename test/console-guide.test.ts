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
  signIn,
  startConsoleWorld,
} from './console-support.ts';
import { get } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page; fails on serious or critical violations, naming them. */
async function axe(page: Page, where: string): Promise<void> {
  // The console's CSP (script-src 'self') refuses an inline <script> (page.addScriptTag), so the
  // source is evaluated through the DevTools protocol, which the CSP does not govern.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(`${AXE}\n;true`);
  const found: { id: string; impact: string; help: string; nodes: string[] }[] = await page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: axe is injected as a script
    const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    // biome-ignore lint/suspicious/noExplicitAny: axe's result shape
    return r.violations.map((v: any) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      // biome-ignore lint/suspicious/noExplicitAny: axe's result shape
      nodes: v.nodes.slice(0, 3).map((n: any) => n.target.join(' ')),
    }));
  });
  const bad = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${where}: ${JSON.stringify(bad, null, 1)}`);
}

// issue 16 point 3: a console that remembers (charts open with the API's history) and guides.
describe('web console: history on first paint, guided flows', { timeout: 180_000 }, () => {
  const it = consoleSteps('console-guide', () => page);
  let world: ConsoleWorld;
  let product: Product;
  let page: Page;
  let origin: Awaited<ReturnType<typeof namedBackend>>;
  let lb: { id: string };
  let web: { id: string };
  let port: number;

  before(async () => {
    [world, origin, port] = await Promise.all([startConsoleWorld(), namedBackend('web-1'), freePort()]);
    ({ product, page } = world);
    lb = await product.api('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    web = await product.api('POST', '/backends', {
      loadBalancerId: lb.id,
      name: 'web',
      mode: 'http',
      healthCheck: { enabled: false },
    });
    await product.api('POST', `/backends/${web.id}/servers`, {
      name: 'web-1',
      serverType: 'web',
      address: '127.0.0.1',
      port: origin.port,
    });
    await product.api('POST', '/frontends', {
      loadBalancerId: lb.id,
      name: 'www',
      protocol: 'http',
      port,
      defaultBackendId: web.id,
    });
    await signIn(page, product.url);
  });

  after(async () => {
    await world?.close();
    await origin?.close();
  });

  it('opens the statistics charts with the kept history (data on first paint)', async () => {
    // traffic while no console page is open, kept by the API's 1-second history
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 20; i++) assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'web-1');
    // Wait (a poll with a deadline) until the API has kept the 20 requests and at least three
    // seconds, so the page has a past to open with whatever the machine's speed.
    let total = 0;
    let kept = 0;
    for (let i = 0; i < 100 && (total < 20 || kept < 3); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const h = await product.api('GET', `/stats/history?backendId=${web.id}`);
      total = h.total.requests.reduce((s: number, v: number | null) => s + (v ?? 0), 0);
      kept = h.times.length;
    }
    assert.equal(total, 20);
    assert.ok(kept >= 3, `the API kept ${kept} seconds`);
    await page.goto(`${product.url}/#/backends/${web.id}`);
    const chart = page.locator('figure.chart', { hasText: 'Requests per second per server' });
    await chart.waitFor();
    // The chart opens with the API's kept seconds (counted apart from the live polls, which add
    // one point per 2 s), whatever the machine's speed: no deadline to race.
    await page.waitForFunction(
      () => Number(document.querySelector('section.statistics')?.getAttribute('data-history-points')) >= 3,
    );
    const seeded = Number(await page.locator('section.statistics').getAttribute('data-history-points'));
    const points = Number(await chart.getAttribute('data-points'));
    assert.ok(seeded >= 3 && points >= seeded, `points on first paint: ${points}, from the history: ${seeded}`);
    await axe(page, 'backend page');
  });

  it('creates a backend from within the frontend dialog, keyboard only, and selects it', async () => {
    await page.goto(`${product.url}/#/load-balancers/${lb.id}/frontends`);
    await axe(page, 'frontends tab');
    const open = page.getByRole('button', { name: 'Create frontend' });
    await open.focus();
    await page.keyboard.press('Enter');
    const fe = page.getByRole('dialog', { name: 'Create frontend' });
    await fe.waitFor();
    await axe(page, 'frontend dialog');
    await fe.getByLabel('Name', { exact: true }).fill('api');
    await fe.getByLabel('Port', { exact: true }).fill(String(await freePort()));
    await fe.getByRole('button', { name: 'Create backend…' }).focus();
    await page.keyboard.press('Enter');
    const be = page.getByRole('dialog', { name: 'Create backend' });
    await be.waitFor();
    await axe(page, 'backend dialog (from the frontend dialog)');
    await be.getByLabel('Name', { exact: true }).fill('api-pool');
    await be.getByLabel('Name', { exact: true }).press('Enter');
    await fe.waitFor();
    // back in the frontend dialog, with what was typed kept and the new backend chosen
    assert.equal(await fe.getByLabel('Name', { exact: true }).inputValue(), 'api');
    const chosen = await fe.getByLabel('Default backend').inputValue();
    const backends = await product.api('GET', `/backends?loadBalancerId=${lb.id}`);
    const created = (backends.items ?? backends).find((b: { name: string }) => b.name === 'api-pool');
    assert.ok(created, 'the backend was created');
    assert.equal(chosen, created.id);
    await fe.getByRole('button', { name: 'Create frontend' }).click();
    await fe.waitFor({ state: 'hidden' });
    const fronts = await product.api('GET', `/frontends?loadBalancerId=${lb.id}`);
    assert.equal((fronts.items ?? fronts).find((f: { name: string }) => f.name === 'api').defaultBackendId, created.id);
  });

  it('leaves the Add Backend Server port empty when the backend has a port, so the server follows it', async () => {
    const withPort = await product.api('POST', '/backends', {
      loadBalancerId: lb.id,
      name: 'ported',
      mode: 'http',
      port: origin.port,
      healthCheck: { enabled: false },
    });
    await page.goto(`${product.url}/#/backends/${withPort.id}`);
    const add = page.getByRole('button', { name: 'Add Backend Server' });
    await add.focus();
    await page.keyboard.press('Enter');
    const dlg = page.getByRole('dialog', { name: 'Add Backend Server' });
    await dlg.waitFor();
    await axe(page, 'server dialog');
    assert.equal(await dlg.getByLabel('Port', { exact: true }).inputValue(), '');
    // Escape closes and gives focus back to the button that opened it
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Add Backend Server');
    await page.keyboard.press('Enter');
    await dlg.waitFor();
    await dlg.getByLabel('Name', { exact: true }).fill('p-1');
    await dlg.getByRole('textbox', { name: 'Custom IP' }).fill('127.0.0.1');
    await dlg.getByRole('textbox', { name: 'Custom IP' }).press('Enter');
    await dlg.waitFor({ state: 'hidden' });
    const servers = await product.api('GET', `/backends/${withPort.id}/servers`);
    assert.equal((servers.items ?? servers)[0].port, null);
  });

  it('asks before the one-way IP as backend switch, saying it cannot be undone', async () => {
    await page.goto(`${product.url}/#/load-balancers`);
    await axe(page, 'load balancers page');
    await page.getByRole('button', { name: 'Create load balancer' }).click();
    const dlg = page.getByRole('dialog', { name: 'Create load balancer' });
    await dlg.getByLabel('Name', { exact: true }).fill('edge');
    await dlg.getByLabel('IP as backend').check();
    await dlg.getByRole('button', { name: 'Create load balancer' }).click();
    const ask = page.getByRole('alertdialog', { name: 'Turn on IP as backend?' });
    await ask.waitFor();
    assert.match((await ask.textContent()) ?? '', /cannot be undone/);
    await axe(page, 'IP as backend confirmation');
    await page.keyboard.press('Escape');
    await dlg.waitFor();
    assert.equal(await dlg.getByLabel('IP as backend').isChecked(), true, 'the form kept its values');
    await dlg.getByRole('button', { name: 'Create load balancer' }).click();
    await ask.getByRole('button', { name: 'Turn on IP as backend' }).click();
    await ask.waitFor({ state: 'hidden' });
    await dlg.waitFor({ state: 'hidden' });
    const lbs = await product.api('GET', '/load-balancers');
    assert.equal((lbs.items ?? lbs).find((l: { name: string }) => l.name === 'edge').ipAsBackend, true);
  });
});
