import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import type { Page } from 'playwright-core';
import { type ConsoleWorld, consoleSteps, signIn, startConsoleWorld } from './console-support.ts';
import { namedHttpServer } from './helpers/fulcrum.ts';

// Issue 15 in the console, on the real product and Chromium: a backend's servers table shows
// each server's expected share beside its weight and filters by tag; the server dialog sends
// If-Match, and when someone else changed the server meanwhile it lists what changed and
// reapplies on request.

describe('web console: server tags, expected share and safe edits (issue 15)', { timeout: 180_000 }, () => {
  let w: ConsoleWorld;
  let page: Page;
  let beId = '';
  const ids = new Map<string, string>();
  const apps: Awaited<ReturnType<typeof namedHttpServer>>[] = [];
  const it = consoleSteps('console-server-fleet', () => page);

  before(async () => {
    w = await startConsoleWorld();
    page = w.page;
    for (let i = 0; i < 3; i++) apps.push(await namedHttpServer(`s${i}`));
    const api = w.product.api;
    const lb = await api('POST', '/load-balancers', { name: 'shop', allowedNetworks: ['127.0.0.0/8'] });
    beId = (
      await api('POST', '/backends', {
        loadBalancerId: lb.id,
        name: 'web',
        mode: 'http',
        algorithm: 'weighted-round-robin',
        healthCheck: { enabled: false },
      })
    ).id;
    const tags = [['env=prod'], ['env=prod', 'canary'], ['env=staging']];
    for (const [i, n] of ['web-1', 'web-2', 'web-3'].entries()) {
      const s = await api('POST', `/backends/${beId}/servers`, {
        name: n,
        address: '127.0.0.1',
        port: apps[i]!.port,
        weight: i + 1,
        tags: tags[i],
      });
      ids.set(n, s.id);
    }
    await signIn(page, w.product.url);
  });
  after(async () => {
    await w?.close();
    for (const a of apps) await a.close();
  });

  const row = (name: string) => page.locator(`tr[data-server="${name}"]`);

  it('shows each server share beside its weight: weights 1:2:3 read 17 % / 33 % / 50 %', async () => {
    await page.goto(`${w.product.url}/#/backends/${beId}`);
    for (const [name, share] of [
      ['web-1', '17 %'],
      ['web-2', '33 %'],
      ['web-3', '50 %'],
    ]) {
      await row(name!).locator('td[data-col="weight"]').getByText(share!).waitFor();
    }
    await row('web-2').getByText('canary').waitFor();
  });

  it('filters the table by tag', async () => {
    await page.getByLabel('Filter servers by tag').fill('env=prod');
    await row('web-3').waitFor({ state: 'detached' });
    assert.equal(await row('web-1').count(), 1);
    assert.equal(await row('web-2').count(), 1);
    await page.getByLabel('Filter servers by tag').fill('canary');
    await row('web-1').waitFor({ state: 'detached' });
    await page.getByLabel('Filter servers by tag').fill('');
    await row('web-3').waitFor();
  });

  it('on a 412 the dialog lists what changed meanwhile and reapplies on request', async () => {
    await row('web-1')
      .getByRole('button', { name: /Update/ })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Weight').fill('4');
    // Someone else changes the server while the dialog is open.
    await w.product.api('PATCH', `/backends/${beId}/servers/${ids.get('web-1')}`, { zone: 'az9' });
    await dialog.getByRole('button', { name: 'Update' }).click();
    const conflict = dialog.locator('[data-conflict]');
    await conflict.getByText('zone: — → az9').waitFor();
    await conflict.getByText(/now version 2/).waitFor();
    const before = await w.product.api('GET', `/backends/${beId}/servers/${ids.get('web-1')}`);
    assert.equal(before.weight, 1, 'nothing changed by the refused save');
    await conflict.getByRole('button', { name: 'Reapply my changes' }).click();
    await dialog.waitFor({ state: 'detached' });
    const after = await w.product.api('GET', `/backends/${beId}/servers/${ids.get('web-1')}`);
    assert.deepEqual([after.weight, after.zone, after.version], [4, 'az9', 3]);
    assert.deepEqual(
      w.watch.errors.filter((e) => !/412|Precondition/i.test(e)),
      [],
    );
  });
});
