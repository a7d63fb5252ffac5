import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { type ConsoleWorld, consoleSteps, signIn, startConsoleWorld } from './console-support.ts';
import { Dnsmasq } from './helpers/dnsmasq.ts';
import { namedHttpServer } from './helpers/fulcrum.ts';
import { waitFor } from './helpers/http-client.ts';

// Issue 15 point 2 in the console, on the real product, Chromium and dnsmasq: servers found by
// a backend's SRV discovery are marked "discovered", cannot be updated or removed there, and
// can be disabled.

describe('web console: discovered servers (issue 15 point 2)', { timeout: 180_000 }, () => {
  let w: ConsoleWorld;
  let page: Page;
  let beId = '';
  const dns = new Dnsmasq();
  let app: Awaited<ReturnType<typeof namedHttpServer>>;
  const it = consoleSteps('console-discovery', () => page);

  before(async () => {
    app = await namedHttpServer('a1');
    dns.write({ 'ready.test': '127.0.0.1', 'a1.test': '127.0.0.1' });
    dns.srv = [`_http._tcp.api.test,a1.test,${app.port},0,10`];
    await dns.start();
    w = await startConsoleWorld();
    page = w.page;
    const api = w.product.api;
    const lb = await api('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    beId = (
      await api('POST', '/backends', {
        loadBalancerId: lb.id,
        name: 'api',
        mode: 'http',
        healthCheck: { enabled: false },
        discovery: { type: 'dns-srv', name: '_http._tcp.api.test', resolver: `127.0.0.1:${dns.port}` },
      })
    ).id;
    await waitFor(
      async () => (await api('GET', `/backends/${beId}/servers`)).length === 1,
      10_000,
      'the discovered server',
    );
    await signIn(page, w.product.url);
  });
  after(async () => {
    await w?.close();
    await app?.close();
    await dns.close();
  });

  const name = () => `a1.test:${app.port}`;
  const row = () => page.locator(`tr[data-server="${name()}"]`);

  it('marks the discovered server and offers only enable/disable and drain', async () => {
    await page.goto(`${w.product.url}/#/backends/${beId}`);
    await row().waitFor();
    assert.match((await row().textContent()) ?? '', /discovered/);
    assert.equal(
      await row()
        .getByRole('button', { name: `Update ${name()}` })
        .count(),
      0,
    );
    assert.equal(
      await row()
        .getByRole('button', { name: `Remove ${name()}` })
        .count(),
      0,
    );
    assert.equal(
      await row()
        .getByRole('button', { name: `Drain ${name()}` })
        .count(),
      1,
    );
  });

  it('disables it from the table', async () => {
    await row()
      .getByRole('button', { name: `Disable ${name()}` })
      .click();
    await waitFor(
      async () => (await w.product.api('GET', `/backends/${beId}/servers`))[0].enabled === false,
      5000,
      'disabled through the API',
    );
  });
});
