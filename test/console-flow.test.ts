import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import {
  ADMIN_TOKEN,
  type ConsoleWorld,
  consoleSteps,
  get,
  namedBackend,
  type Product,
  shot,
  startConsoleWorld,
} from './console-support.ts';
import { freePort } from './helpers/plane.ts';

// The web console end to end (C3, S1–S3, H6, O1, S8): a real Chromium drives the built console
// served by the real product; requests go through the frontend it configured to a real server.
describe('web console end to end', { timeout: 180_000 }, () => {
  // The steps build on each other: after the first failure the rest are skipped, not timed out.
  const it = consoleSteps('console', () => page);
  let world: ConsoleWorld;
  let product: Product;
  let context: BrowserContext;
  let page: Page;
  let watch: ConsoleWorld['watch'];
  let backend: Awaited<ReturnType<typeof namedBackend>>;
  let fePort: number;

  before(async () => {
    [world, backend, fePort] = await Promise.all([startConsoleWorld(), namedBackend('web-1'), freePort()]);
    ({ product, context, page, watch } = world);
  });

  after(async () => {
    await world?.close();
    await backend?.close();
  });

  it('signs in with an API token into an HttpOnly session cookie, refusing a wrong one', async () => {
    await page.goto(product.url);
    await page.getByLabel('API token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token is not valid.').waitFor();
    await shot(page, 'console-01-sign-in-refused');
    await page.getByLabel('API token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Load balancers' }).waitFor();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'fulcrum_session');
    assert.ok(session, 'session cookie set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    assert.ok(!stored.includes(ADMIN_TOKEN), 'the token is not kept in web storage');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes('fulcrum_session'), 'not readable by scripts');
  });

  it('creates a load balancer, an http backend with a tcp check, and a frontend that listens', async () => {
    await page.getByRole('button', { name: 'Create load balancer' }).click();
    const lbDialog = page.getByRole('dialog', { name: 'Create load balancer' });
    await lbDialog.getByLabel('Name', { exact: true }).fill('shop');
    await lbDialog.getByLabel('Allowed networks (CIDR)').fill('127.0.0.0/8');
    await lbDialog.getByRole('button', { name: 'Create load balancer' }).click();
    await page.getByRole('heading', { name: 'shop' }).waitFor();

    await page.getByRole('link', { name: 'Backends' }).click();
    await page.getByRole('button', { name: 'Create backend' }).click();
    const be = page.getByRole('dialog', { name: 'Create backend' });
    await be.getByLabel('Name', { exact: true }).fill('web');
    await be.getByLabel('Mode').selectOption('http');
    await be.getByLabel('Load balancing method').selectOption('weighted-round-robin');
    // Defaults are shown beside every health check field (issue point 4).
    for (const [field, hint] of [
      ['healthCheck.intervalSeconds', 'default 5'],
      ['healthCheck.timeoutSeconds', 'default 3'],
      ['healthCheck.rise', 'default 2'],
      ['healthCheck.fall', 'default 3'],
      ['drainTimeoutSeconds', /^default 30;/],
    ] as const) {
      await be.locator(`[data-field="${field}"] .hint`).getByText(hint).waitFor();
    }
    await be.getByLabel('Check type').selectOption('tcp');
    await be.getByLabel('Interval (seconds)').fill('1');
    await be.getByLabel('Timeout (seconds)', { exact: true }).fill('1');
    await be.getByLabel('Rise (successes to become healthy)').fill('1');
    await be.getByLabel('Fall (failures to become unhealthy)').fill('1');
    await shot(page, 'console-02-create-backend');
    await be.getByRole('button', { name: 'Create backend' }).click();
    await page.locator('tr[data-backend="web"]').waitFor();
    // the step that follows Create Backend (issue 16); Skip leaves the backend without servers
    await page.getByRole('dialog', { name: 'Add servers to web' }).getByRole('button', { name: 'Skip' }).click();

    await page.getByRole('link', { name: 'Frontends' }).click();
    await page.getByRole('button', { name: 'Create frontend' }).click();
    const fe = page.getByRole('dialog', { name: 'Create frontend' });
    await fe.getByLabel('Name', { exact: true }).fill('www');
    await fe.getByLabel('Protocol').selectOption('http');
    await fe.getByLabel('Port', { exact: true }).fill(String(fePort));
    await fe.getByLabel('Default backend').selectOption({ label: 'web' });
    await fe.getByRole('button', { name: 'Create frontend' }).click();
    const row = page.locator('tr[data-frontend="www"]');
    await row.getByText('listening', { exact: true }).waitFor();
    await shot(page, 'console-03-frontends');

    const backends = await product.api('GET', '/backends');
    assert.equal(backends.length, 1);
    assert.equal(backends[0].healthCheck.type, 'tcp');
    assert.equal(backends[0].healthCheck.intervalSeconds, 1);
    assert.equal(backends[0].algorithm, 'weighted-round-robin');
  });

  it('adds a server through the Add Backend Server dialog and traffic reaches it', async () => {
    await page.getByRole('link', { name: 'www' }).click();
    await page.getByRole('heading', { name: 'Frontend www' }).waitFor();
    await page.getByRole('button', { name: 'Add Backend Server' }).click();
    const dlg = page.getByRole('dialog', { name: 'Add Backend Server' });
    for (const label of [
      'Name',
      'Server Type',
      'Port',
      'Weight',
      'Zone',
      'Passive',
      'SSL Offload',
      'Server Certificate (CA)',
    ]) {
      await dlg.getByLabel(label, { exact: true }).waitFor();
    }
    await dlg.getByRole('radio', { name: 'From the inventory' }).check();
    await dlg.getByLabel('Backend Server', { exact: true }).waitFor();
    await dlg.getByLabel('Name', { exact: true }).fill('web-1');
    await dlg.getByRole('radio', { name: 'Custom IP address' }).check();
    await dlg.getByLabel('Custom IP', { exact: true }).fill('127.0.0.1');
    await dlg.getByLabel('Port', { exact: true }).fill(String(backend.port));
    await dlg.getByLabel('Zone', { exact: true }).fill('az1');
    await shot(page, 'console-04-add-backend-server');
    await dlg.getByRole('button', { name: 'Add Server' }).click();
    await page.getByRole('status').getByText('Server web-1 added.').waitFor();
    const row = page.locator('tr[data-server="web-1"]');
    await row.waitFor();
    // Health turns healthy live (tcp check every second, rise 1), without a reload.
    await row.locator('[data-col="health"]').getByText('healthy', { exact: true }).waitFor({ timeout: 15_000 });

    const before = backend.count();
    for (let i = 0; i < 20; i++) {
      const r = await get(`http://127.0.0.1:${fePort}/`);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'web-1');
    }
    assert.equal(backend.count() - before, 20, 'every request reached the server');
    await shot(page, 'console-05-server-healthy');
  });

  it('updates the weight and confirms the configuration version it is live in (S2)', async () => {
    await page.getByRole('button', { name: 'Update web-1' }).click();
    const dlg = page.getByRole('dialog', { name: 'Update Backend Server web-1' });
    assert.equal(await dlg.getByLabel('Port', { exact: true }).inputValue(), String(backend.port), 'pre-filled');
    assert.equal(await dlg.getByLabel('Zone', { exact: true }).inputValue(), 'az1');
    await dlg.getByLabel('Weight', { exact: true }).fill('5');
    await dlg.getByRole('button', { name: 'Update', exact: true }).click();
    const toast = page
      .getByRole('status')
      .getByText(/Server web-1 updated\. The change is live in configuration version \d+\./);
    await toast.waitFor();
    const text = (await toast.textContent()) ?? '';
    const version = Number(/version (\d+)/.exec(text)?.[1]);
    const servers = await product.api('GET', `/backends/${(await product.api('GET', '/backends'))[0].id}/servers`);
    assert.equal(servers[0].weight, 5);
    const audit = await product.api('GET', '/audit?limit=1');
    assert.equal(audit[0].configVersion, version, 'the version shown is the change that set weight 5');
    // the weight cell reads the weight, then the expected share (issue 15): `5 100 %`
    await page.locator('tr[data-server="web-1"] td.num', { hasText: /^5 \d+ %$/ }).waitFor();
    await shot(page, 'console-06-updated');
  });

  it('shows the API refusal of port 70000 beside the Port field and changes nothing', async () => {
    await page.getByRole('button', { name: 'Update web-1' }).click();
    const dlg = page.getByRole('dialog', { name: 'Update Backend Server web-1' });
    await dlg.getByLabel('Port', { exact: true }).fill('70000');
    await dlg.getByRole('button', { name: 'Update', exact: true }).click();
    const err = dlg.locator('[data-field="port"] .field-error');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /port.*65535/);
    assert.equal(await dlg.getByLabel('Port', { exact: true }).getAttribute('aria-invalid'), 'true');
    const describedBy = (await dlg.getByLabel('Port', { exact: true }).getAttribute('aria-describedby')) ?? '';
    assert.ok(describedBy.includes((await err.getAttribute('id')) ?? '-'), 'the error describes the input');
    await shot(page, 'console-07-port-error');
    await dlg.getByRole('button', { name: 'Cancel' }).click();
    const backends = await product.api('GET', '/backends');
    const servers = await product.api('GET', `/backends/${backends[0].id}/servers`);
    assert.equal(servers[0].port, backend.port, 'nothing changed');
  });

  it('looks up which load balancers and backends use an IP address (S8)', async () => {
    await page.getByLabel('Find servers by IP address or id').fill('127.0.0.1');
    await page.getByLabel('Find servers by IP address or id').press('Enter');
    await page.getByRole('heading', { name: 'Lookup' }).waitFor();
    const table = page.getByRole('table');
    await table.getByRole('link', { name: 'shop' }).waitFor();
    await table.getByRole('link', { name: 'web', exact: true }).waitFor();
    await shot(page, 'console-08-lookup');
    await page.goBack();
    await page.getByRole('heading', { name: 'Frontend www' }).waitFor();
  });

  it('disables the server (state changes, no traffic), enables it again', async () => {
    const row = page.locator('tr[data-server="web-1"]');
    await page.getByRole('button', { name: 'Disable web-1' }).click();
    await row
      .locator('[data-col="state"]')
      .getByText(/^(draining|disabled)$/)
      .waitFor();
    await page.getByRole('button', { name: 'Enable web-1' }).waitFor();
    const r = await get(`http://127.0.0.1:${fePort}/`);
    assert.equal(r.status, 503, 'a disabled server gets no new requests');
    await shot(page, 'console-09-disabled');
    await page.getByRole('button', { name: 'Enable web-1' }).click();
    await row.locator('[data-col="state"]').getByText('active', { exact: true }).waitFor();
    await row.locator('[data-col="health"]').getByText('healthy', { exact: true }).waitFor({ timeout: 15_000 });
    const ok = await get(`http://127.0.0.1:${fePort}/`);
    assert.equal(ok.status, 200);
  });

  it('shows live statistics and the events timeline with the health transition', async () => {
    for (let i = 0; i < 30; i++) assert.equal((await get(`http://127.0.0.1:${fePort}/`)).status, 200);
    const served = (await product.api('GET', '/stats')).servers[0].requests as number;
    assert.ok(served >= 51, `the server counted ${served} requests`);
    const lb = (await product.api('GET', '/load-balancers'))[0];
    await page.goto(`${product.url}/#/load-balancers/${lb.id}/events`);
    const events = page.getByRole('list', { name: 'Event timeline' });
    await events.locator('li[data-kind="health"]').first().waitFor();
    assert.match((await events.locator('li[data-kind="health"]').first().textContent()) ?? '', /→ healthy/);
    await page.getByLabel('Kind').selectOption('health');
    assert.equal(await events.locator('li:not([data-kind="health"])').count(), 0, 'the kind filter keeps only health');
    await shot(page, 'console-10-events');
    await page.getByRole('link', { name: 'Statistics' }).click();
    await page.getByText('Requests per second per server').waitFor();
    await page.locator('.chart-box canvas').first().waitFor();
    // The counters follow the live /stats poll (every 2 s) without a reload.
    const requests = page.locator('table.data tbody tr').first().locator('td.num').nth(1);
    await requests.filter({ hasText: String(served) }).waitFor();
    // Issue 12 point 2: why requests ended early, per server, from the same poll.
    await page.getByRole('columnheader', { name: 'Ended early (why)' }).waitFor();
    const why = (await product.api('GET', '/stats')).servers[0].terminations as Record<string, number>;
    const expected = Object.values(why).some((n) => n > 0) ? /\w+ \d+/ : /^none$/;
    assert.match(
      (await page.locator('table.data tbody tr').first().locator('td.terminations').textContent()) ?? '',
      expected,
    );
    await shot(page, 'console-11-statistics');
  });

  it('drains and removes the server with confirmations naming the drain timeout (S3)', async () => {
    const fe = (await product.api('GET', '/frontends'))[0];
    await page.goto(`${product.url}/#/frontends/${fe.id}`);
    await page.getByRole('button', { name: 'Drain web-1' }).click();
    const drain = page.getByRole('alertdialog', { name: 'Drain web-1?' });
    await drain.getByText('Open connections will be drained for 30 seconds').waitFor();
    await drain.getByRole('button', { name: 'Drain' }).click();
    const row = page.locator('tr[data-server="web-1"]');
    await row
      .locator('[data-col="state"]')
      .getByText(/^(draining|disabled)$/)
      .waitFor();
    await page.getByRole('button', { name: 'Remove web-1' }).click();
    const remove = page.getByRole('alertdialog', { name: 'Remove web-1?' });
    await remove.getByText(/Open connections will be drained for 30 seconds/).waitFor();
    await shot(page, 'console-12-remove-confirm');
    await remove.getByRole('button', { name: 'Remove' }).click();
    await row.waitFor({ state: 'detached' });
    const backends = await product.api('GET', '/backends');
    assert.deepEqual(await product.api('GET', `/backends/${backends[0].id}/servers`), []);
  });

  it('labels every control of every dialog and page (issue point 11)', async () => {
    const unlabelled = () =>
      page.evaluate(() =>
        [...document.querySelectorAll('input, select, textarea, button')]
          .filter((el) => {
            const e = el as HTMLInputElement;
            if (e.type === 'hidden') return false;
            const named =
              (e.labels?.length ?? 0) > 0 || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby');
            return !named && !(el.tagName === 'BUTTON' && el.textContent?.trim());
          })
          .map((el) => el.outerHTML.slice(0, 120)),
      );
    const lb = (await product.api('GET', '/load-balancers'))[0];
    await page.goto(`${product.url}/#/load-balancers`);
    await page.locator('tr[data-lb="shop"]').waitFor();
    await shot(page, 'console-13-load-balancers');
    for (const [tab, button, dialog] of [
      ['backends', 'Create backend', 'Create backend'],
      ['frontends', 'Create frontend', 'Create frontend'],
    ] as const) {
      await page.goto(`${product.url}/#/load-balancers/${lb.id}/${tab}`);
      await page.getByRole('button', { name: button }).click();
      const dlg = page.getByRole('dialog', { name: dialog });
      if (tab === 'frontends') {
        await dlg.getByLabel('Protocol').selectOption('https');
        await dlg.getByRole('button', { name: 'Add rule' }).click();
      } else {
        await dlg.getByLabel('Persistence').selectOption('cookie');
      }
      assert.deepEqual(await unlabelled(), [], `${dialog}: every control has a label`);
      await dlg.getByRole('button', { name: 'Cancel' }).click();
    }
    const fe = (await product.api('GET', '/frontends'))[0];
    await page.goto(`${product.url}/#/frontends/${fe.id}`);
    await page.getByRole('button', { name: 'Add Backend Server' }).click();
    assert.deepEqual(await unlabelled(), [], 'Add Backend Server: every control has a label');
    await page.getByRole('radio', { name: 'From the inventory' }).check();
    assert.deepEqual(await unlabelled(), []);
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
  });

  it('works on a narrow window and logs no console errors', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${product.url}/#/load-balancers`);
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Instances' }).click();
    await page.getByRole('heading', { name: 'Instances' }).waitFor();
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Certificates' }).click();
    await page.getByRole('heading', { name: 'Certificates' }).waitFor();
    await shot(page, 'console-14-narrow-certificates');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal page overflow at 390 px (got ${overflow})`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    assert.ok(!(await context.cookies()).some((c) => c.name === 'fulcrum_session' && c.value), 'cookie cleared');
    assert.deepEqual(watch.errors, [], 'no console errors or uncaught exceptions');
  });
});
