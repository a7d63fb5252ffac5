import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Test PKI with the `openssl` CLI in a temp dir (never committed): CAs and leaf certificates
 * with SANs, RSA or ECDSA, and chosen validity dates (expired / not yet valid).
 */
export interface Issued {
  certPem: string;
  keyPem: string;
  /** certPem + keyPem, the `pem` of a server upload. */
  bundle: string;
}

export interface LeafOptions {
  cn: string;
  /** e.g. ['DNS:a.test', 'DNS:*.b.test', 'IP:127.0.0.1'] */
  sans?: string[];
  /** openssl dates `YYYYMMDDHHMMSSZ`; default: yesterday … in a year. */
  startDate?: string;
  endDate?: string;
  ec?: boolean;
}

function stamp(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

export class TestPki {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'fulcrum-pki-'));
  #n = 0;

  #run(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }
  #read(f: string): string {
    return readFileSync(path.join(this.dir, f), 'utf8');
  }

  /** A self-signed CA. */
  ca(cn: string): Issued & { name: string } {
    const name = `ca${++this.#n}`;
    this.#run([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '365',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    writeFileSync(path.join(this.dir, `${name}.idx`), '');
    writeFileSync(path.join(this.dir, `${name}.srl`), '1000\n');
    writeFileSync(
      path.join(this.dir, `${name}.cnf`),
      [
        '[ca]',
        'default_ca = d',
        '[d]',
        `database = ${name}.idx`,
        'new_certs_dir = .',
        `serial = ${name}.srl`,
        'default_md = sha256',
        'policy = p',
        'unique_subject = no',
        'copy_extensions = copy',
        '[p]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    const certPem = this.#read(`${name}.crt`);
    const keyPem = this.#read(`${name}.key`);
    return { name, certPem, keyPem, bundle: certPem + keyPem };
  }

  /** A leaf signed by `ca`. */
  leaf(ca: { name: string }, o: LeafOptions): Issued {
    const name = `leaf${++this.#n}`;
    const keyArgs = o.ec ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
    const sans = o.sans ?? [`DNS:${o.cn}`];
    this.#run([
      'req',
      '-new',
      ...keyArgs,
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${o.cn}`,
      '-addext',
      `subjectAltName=${sans.join(',')}`,
    ]);
    const now = Date.now();
    this.#run([
      'ca',
      '-batch',
      '-notext',
      '-config',
      `${ca.name}.cnf`,
      '-cert',
      `${ca.name}.crt`,
      '-keyfile',
      `${ca.name}.key`,
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
      '-startdate',
      o.startDate ?? stamp(new Date(now - 86_400_000)),
      '-enddate',
      o.endDate ?? stamp(new Date(now + 365 * 86_400_000)),
    ]);
    const certPem = this.#read(`${name}.crt`);
    const keyPem = this.#read(`${name}.key`);
    return { certPem, keyPem, bundle: certPem + keyPem };
  }

  /** A passphrase-encrypted copy of a key (PKCS#8). */
  encryptedKey(keyPem: string): string {
    writeFileSync(path.join(this.dir, 'plain.key'), keyPem);
    this.#run(['pkcs8', '-topk8', '-in', 'plain.key', '-out', 'enc.key', '-passout', 'pass:secret']);
    return this.#read('enc.key');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
