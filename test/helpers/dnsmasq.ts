import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitFor } from './http-client.ts';
import { freePort } from './plane.ts';

/**
 * A real DNS server for tests (issue 15 point 2): Debian's dnsmasq (installed by .ci/run) on a
 * loopback port, answering only from a hosts file the test rewrites (`reload()` = SIGHUP re-reads
 * it) and from `--srv-host` records (a change needs `stop()` + `start()`).
 */

const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p)) ?? 'dnsmasq';

/** A free UDP port on 127.0.0.1 (bound then released). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * A port free on 127.0.0.1 for both TCP (checked by `freePort`, which picks below the kernel's
 * ephemeral range, so outgoing connections do not take it meanwhile) and UDP: dnsmasq binds both.
 */
async function freeDnsPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const udp = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '127.0.0.1', () => r(true));
    });
    if (!ok) {
      udp.close();
      continue;
    }
    await new Promise<void>((r) => udp.close(() => r()));
    return port;
  }
}

/** How often `start()` picks another port when dnsmasq loses the port to another socket. */
const BIND_TRIES = 5;

/** dnsmasq answering only from `hosts` (a file of `IP name` lines) on 127.0.0.1:port. */
export class Dnsmasq {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-dns-'));
  readonly hosts = path.join(this.dir, 'hosts');
  port = 0;
  /** `--srv-host` values (`_http._tcp.x.test,target,port,priority,weight`); a change needs a restart. */
  srv: string[] = [];
  #child: ChildProcess | undefined;

  write(lines: Record<string, string>): void {
    writeFileSync(
      this.hosts,
      `${Object.entries(lines)
        .map(([name, ip]) => `${ip} ${name}`)
        .join('\n')}\n`,
      {
        mode: 0o644,
      },
    );
  }

  /**
   * Starts dnsmasq and resolves once it answers. With no port chosen yet, it picks one free for
   * UDP and TCP, and picks again when another socket takes it between the pick and dnsmasq's bind
   * (`Address already in use`); a restart keeps its port (the Fulcrum under test points at it).
   */
  async start(): Promise<void> {
    const pick = this.port === 0;
    for (let attempt = 1; ; attempt++) {
      if (pick) this.port = await freeDnsPort();
      try {
        await this.#startOnce();
        return;
      } catch (e) {
        const raced = String((e as Error).message).includes('Address already in use');
        if (!pick || !raced || attempt >= BIND_TRIES) throw e;
      }
    }
  }

  async #startOnce(): Promise<void> {
    chmodSync(this.dir, 0o755); // dnsmasq may drop to nobody before it reads the file again
    const child = spawn(
      DNSMASQ,
      [
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        `--port=${this.port}`,
        '--listen-address=127.0.0.1',
        '--bind-interfaces',
        '--no-resolv',
        '--no-hosts',
        `--addn-hosts=${this.hosts}`,
        '--local-ttl=1',
        '--pid-file=',
        ...this.srv.map((x) => `--srv-host=${x}`),
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.#child = child;
    let err = '';
    child.stderr?.on('data', (d) => {
      err += String(d);
    });
    // Ready when a query is answered.
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`dnsmasq exited ${child.exitCode}: ${err}`);
        const { Resolver } = await import('node:dns/promises');
        const r = new Resolver({ timeout: 200, tries: 1 });
        r.setServers([`127.0.0.1:${this.port}`]);
        return r.resolve4('ready.test').then(
          () => true,
          () => false,
        );
      },
      5000,
      'dnsmasq answering',
    );
  }

  reload(): void {
    this.#child?.kill('SIGHUP');
  }

  async stop(): Promise<void> {
    const c = this.#child;
    this.#child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await gone;
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
