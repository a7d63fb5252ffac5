import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

/**
 * Loopback ports whose connects never complete, for connect timeouts (issue 12 point 2,
 * `connect-timeout`). A child process listens on 127.0.0.1 with a backlog of 1 and then blocks
 * its event loop, so it never calls accept(2); `startBlackhole` fills each accept queue with
 * connections of its own. Linux then drops every further SYN to that port (tcp_conn_request:
 * accept queue full, `tcp_abort_on_overflow` 0) instead of answering RST, so a connect stays
 * in SYN-SENT until the caller gives up. Checked while starting: a fill connection that does
 * not complete within 300 ms proves the queue is full; if every one completes, it throws.
 */
export interface Blackhole {
  ports: number[];
  close(): Promise<void>;
}

const CHILD = `
const net = require('node:net');
const n = Number(process.argv[1]);
const ports = [];
const next = () => {
  if (ports.length === n) {
    process.stdout.write(ports.join(',') + '\\n'); // a pipe: written synchronously on Linux
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // the loop never runs again: no accept
    return;
  }
  const s = net.createServer();
  s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => { ports.push(s.address().port); next(); });
};
next();
`;

/** Starts a child with `count` blackhole ports on 127.0.0.1 and fills their accept queues. */
export async function startBlackhole(count = 1): Promise<Blackhole> {
  const child: ChildProcess = spawn(process.execPath, ['-e', CHILD, String(count)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const fillers: net.Socket[] = [];
  const close = async (): Promise<void> => {
    for (const s of fillers) s.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const ports = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('blackhole child did not start')), 10_000);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (!out.includes('\n')) return;
        clearTimeout(t);
        resolve(out.trim().split(',').map(Number));
      });
      child.once('exit', (code) => reject(new Error(`blackhole child exited (${code})`)));
    });
    for (const port of ports) {
      let full = false;
      for (let i = 0; i < 8 && !full; i++) {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.on('error', () => {});
        const connected = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), 300);
          s.once('connect', () => {
            clearTimeout(t);
            resolve(true);
          });
        });
        if (connected) fillers.push(s);
        else {
          s.destroy(); // still in SYN-SENT: the queue is full, further SYNs are dropped
          full = true;
        }
      }
      if (!full) throw new Error(`port ${port}: every connect completed; this kernel does not drop SYNs here`);
    }
    return { ports, close };
  } catch (err) {
    await close();
    throw err;
  }
}
