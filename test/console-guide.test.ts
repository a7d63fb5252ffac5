import assert from 'node:assert/strict';
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
    let total = 0;
    for (let i = 0; i < 40 && total < 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const h = await product.api('GET', `/stats/history?backendId=${web.id}`);
      total = h.total.requests.reduce((s: number, v: number | null) => s + (v ?? 0), 0);
    }
    assert.equal(total, 20);
    await page.goto(`${product.url}/#/backends/${web.id}`);
    const chart = page.locator('figure.chart', { hasText: 'Requests per second per server' });
    await chart.waitFor();
    // within 1.5 s, before two live polls (2 s apart) could make a single point, the chart has many
    await page.waitForFunction(
      () => Number(document.querySelector('figure.chart')?.getAttribute('data-points')) >= 3,
      undefined,
      { timeout: 1500 },
    );
    const points = Number(await chart.getAttribute('data-points'));
    assert.ok(points >= 3, `points on first paint: ${points}`);
  });
});
