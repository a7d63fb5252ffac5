import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { type ConsoleWorld, consoleSteps, shot, signIn, startConsoleWorld } from './console-support.ts';
import { get } from './helpers/http-client.ts';
import { freePort } from './helpers/plane.ts';

// Issue 15 point 1 in the console, on the real product and Chromium: the Add Backend Server
// dialog adds several inventory instances at once, and the servers table's selection is
// drained, disabled, enabled, re-weighted and removed — each action ONE batch, one
// configuration version, checked through the API and real traffic.

describe('web console: servers changed together (issue 15 point 1)', { timeout: 180_000 }, () => {
  let w: ConsoleWorld;
  let page: Page;
  let beId = '';
  let fePort = 0;
  const apps: http.Server[] = [];
  const it = consoleSteps('console-batch', () => page);
  /** The configuration version this node applied. */
  const version = async (): Promise<number> => (await w.product.api('GET', '/nodes'))[0].appliedVersion;
  const servers = async () =>
    (
      (await w.product.api('GET', `/backends/${beId}/servers`)) as {
        name: string;
        weight: number;
        zone: string;
        enabled: boolean;
        status: { reason: string };
      }[]
    ).filter((s) => s.status.reason !== 'removed');

  before(async () => {
    w = await startConsoleWorld();
    page = w.page;
    const api = w.product.api;
    // Three inventory instances on loopback addresses, each with a real server on one port.
    const port = await freePort();
    for (let i = 1; i <= 3; i++) {
      const srv = http.createServer((_req, res) => res.end(`vm-${i}`));
      await new Promise<void>((r) => srv.listen(port, `127.0.0.${i}`, r));
      apps.push(srv);
      await api('POST', '/instances', {
        name: `vm-${i}`,
        privateIp: `127.0.0.${i}`,
        zone: `az${i}`,
        serverType: 'web',
      });
    }
    const lb = await api('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    beId = (
      await api('POST', '/backends', {
        loadBalancerId: lb.id,
        name: 'web',
        mode: 'http',
        port,
        healthCheck: { enabled: false },
      })
    ).id;
    fePort = await freePort();
    await api('POST', '/frontends', {
      loadBalancerId: lb.id,
      name: 'www',
      protocol: 'http',
      port: fePort,
      defaultBackendId: beId,
    });
    await signIn(page, w.product.url);
  });
  after(async () => {
    await w?.close();
    for (const a of apps) {
      a.closeAllConnections();
      a.close();
    }
  });

  const row = (name: string) => page.locator(`tr[data-server="${name}"]`);
  const answers = async (n = 9) => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await get(`http://127.0.0.1:${fePort}/`)).body);
    return seen;
  };

  it('adds three inventory instances at once: one configuration version, traffic to each', async () => {
    await page.goto(`${w.product.url}/#/backends/${beId}`);
    await page.getByRole('button', { name: 'Add Backend Server' }).click();
    const dlg = page.getByRole('dialog', { name: 'Add Backend Server' });
    await dlg.getByRole('radio', { name: 'From the inventory' }).check();
    for (let i = 1; i <= 3; i++)
      await dlg.getByRole('checkbox', { name: new RegExp(`^vm-${i} — 127\\.0\\.0\\.${i}`) }).check();
    await dlg.locator('[data-several]').getByText('3 servers, each named after its instance').waitFor();
    await dlg.getByLabel('Weight', { exact: true }).fill('2');
    await shot(page, 'console-batch-01-add-several');
    const v = await version();
    await dlg.getByRole('button', { name: 'Add 3 Servers' }).click();
    await page
      .getByRole('status')
      .getByText(`3 servers added in one change. Live in configuration version ${v + 1}.`)
      .waitFor();
    for (const n of ['vm-1', 'vm-2', 'vm-3']) await row(n).waitFor();
    assert.equal(await version(), v + 1);
    assert.deepEqual(
      (await servers()).map((s) => [s.name, s.weight, s.zone]),
      [
        ['vm-1', 2, 'az1'],
        ['vm-2', 2, 'az2'],
        ['vm-3', 2, 'az3'],
      ],
    );
    assert.deepEqual(await answers(), new Set(['vm-1', 'vm-2', 'vm-3']));
  });

  it('a refused batch names the server at fault and adds nothing', async () => {
    await page.getByRole('button', { name: 'Add Backend Server' }).click();
    const dlg = page.getByRole('dialog', { name: 'Add Backend Server' });
    await dlg.getByRole('radio', { name: 'From the inventory' }).check();
    await dlg.getByRole('checkbox', { name: /^vm-1 — / }).check();
    await dlg.getByRole('checkbox', { name: /^vm-2 — / }).check();
    const v = await version();
    await dlg.getByRole('button', { name: 'Add 2 Servers' }).click();
    // Both already exist in this backend under these names.
    await dlg
      .getByRole('alert')
      .getByText(/Nothing was added: vm-1: name: .*already exists.*; vm-2: name: /)
      .waitFor();
    assert.equal(await version(), v);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
  });

  it('drains and enables the selection, each as one change', async () => {
    await row('vm-1').getByRole('checkbox', { name: 'Select vm-1' }).check();
    await row('vm-2').getByRole('checkbox', { name: 'Select vm-2' }).check();
    await page.getByText('2 selected').waitFor();
    const v = await version();
    await page.getByRole('button', { name: 'Drain selected servers' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByText(/vm-1, vm-2 will get no new connections/).waitFor();
    await confirm.getByRole('button', { name: 'Drain' }).click();
    await page
      .getByRole('status')
      .getByText(`2 servers draining in one change. Live in configuration version ${v + 1}.`)
      .waitFor();
    assert.equal(await version(), v + 1);
    assert.deepEqual(
      (await servers()).map((s) => [s.name, s.enabled]),
      [
        ['vm-1', false],
        ['vm-2', false],
        ['vm-3', true],
      ],
    );
    assert.deepEqual(await answers(), new Set(['vm-3']));
    await page.getByRole('checkbox', { name: 'Select all servers' }).check();
    await page.getByText('3 selected').waitFor();
    await page.getByRole('button', { name: 'Enable selected servers' }).click();
    await page
      .getByRole('status')
      .getByText(`3 servers enabled in one change. Live in configuration version ${v + 2}.`)
      .waitFor();
    assert.equal(await version(), v + 2);
    assert.deepEqual(await answers(), new Set(['vm-1', 'vm-2', 'vm-3']));
  });

  it('sets the weight of the selection; a refused weight changes nothing', async () => {
    await row('vm-2').getByRole('checkbox', { name: 'Select vm-2' }).check();
    await row('vm-3').getByRole('checkbox', { name: 'Select vm-3' }).check();
    const v = await version();
    await page.getByLabel('Weight for the selected servers').fill('500');
    await page.getByRole('button', { name: 'Set weight' }).click();
    await page
      .getByRole('status')
      .getByText(/Nothing changed: vm-2: weight: must be an integer from 0 to 100; vm-3: weight:/)
      .waitFor();
    assert.equal(await version(), v);
    await page.getByLabel('Weight for the selected servers').fill('5');
    await page.getByRole('button', { name: 'Set weight' }).click();
    await page
      .getByRole('status')
      .getByText(`2 servers re-weighted in one change. Live in configuration version ${v + 1}.`)
      .waitFor();
    assert.deepEqual(
      (await servers()).map((s) => [s.name, s.weight]),
      [
        ['vm-1', 2],
        ['vm-2', 5],
        ['vm-3', 5],
      ],
    );
    await row('vm-2').locator('td[data-col="weight"]').getByText('42 %').waitFor();
  });

  it('disables, then removes the selection as one change', async () => {
    await row('vm-3').getByRole('checkbox', { name: 'Select vm-3' }).check();
    const v = await version();
    await page.getByRole('button', { name: 'Disable selected servers' }).click();
    await page
      .getByRole('status')
      .getByText(`1 server disabled in one change. Live in configuration version ${v + 1}.`)
      .waitFor();
    await row('vm-1').getByRole('checkbox', { name: 'Select vm-1' }).check();
    await row('vm-3').getByRole('checkbox', { name: 'Select vm-3' }).check();
    await page.getByRole('button', { name: 'Remove selected servers' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByText(/and be removed from web/).waitFor();
    await shot(page, 'console-batch-02-remove-selection');
    await confirm.getByRole('button', { name: 'Remove' }).click();
    await page
      .getByRole('status')
      .getByText(`2 servers removed in one change. Live in configuration version ${v + 2}.`)
      .waitFor();
    assert.equal(await version(), v + 2);
    assert.deepEqual(
      (await servers()).map((s) => s.name),
      ['vm-2'],
    );
    assert.deepEqual(await answers(), new Set(['vm-2']));
    assert.deepEqual(
      w.watch.errors.filter((e) => !/400|409|Bad Request|Conflict/i.test(e)),
      [],
    );
  });
});
