import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FulcrumError } from '../core/errors.ts';

/** Name of the generated key file in the data dir (mode 0600). */
export const SECRET_KEY_FILE = 'secret-key';

/**
 * The 32-byte key that encrypts private keys at rest (AES-256-GCM). From
 * `FULCRUM_SECRET_KEY` when set (64 hex digits or base64 of 32 bytes are used as is; any
 * other text is hashed with SHA-256, so use a long random value), else from
 * `<dataDir>/secret-key`, generated at first start with mode 0600. Throws when the key file
 * exists but does not hold 32 bytes of base64.
 */
export function loadSecretKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.FULCRUM_SECRET_KEY;
  if (fromEnv !== undefined && fromEnv.length > 0) return keyFromText(fromEnv);
  const file = path.join(dataDir, SECRET_KEY_FILE);
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new FulcrumError('internal', `${file}: expected 32 bytes of base64`);
  return key;
}

function keyFromText(text: string): Buffer {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const b64 = Buffer.from(text, 'base64');
  if (b64.length === 32 && /^[A-Za-z0-9+/_-]+=*$/.test(text)) return b64;
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Encrypts a private key PEM with AES-256-GCM: `v1.` + base64url(iv[12] | tag[16] | data).
 * `aad` (e.g. the certificate's fingerprint) binds the ciphertext to its certificate.
 */
export function encryptSecret(plain: string, key: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `v1.${Buffer.concat([iv, c.getAuthTag(), data]).toString('base64url')}`;
}

/**
 * Reverses `encryptSecret`. Throws FulcrumError `internal` when the text is not ours or the
 * key is wrong (the data dir's `secret-key` or FULCRUM_SECRET_KEY changed).
 */
export function decryptSecret(sealed: string, key: Buffer, aad: string): string {
  if (!sealed.startsWith('v1.')) throw new FulcrumError('internal', 'encrypted key: unknown format');
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  try {
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    d.setAAD(Buffer.from(aad, 'utf8'));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    throw new FulcrumError(
      'internal',
      'encrypted key: cannot decrypt (wrong secret key: FULCRUM_SECRET_KEY or the data dir secret-key changed)',
    );
  }
}

/** Where sealed secrets are kept: the store's `secrets` table (ConfigStore getSecret / setSecret). */
export interface SecretTable {
  getSecret(key: string): Promise<string | undefined>;
  setSecret(key: string, value: string): Promise<void>;
  createSecretIfAbsent(key: string, value: string): Promise<string>;
}

/**
 * A secret kept in the store encrypted at rest like private keys (issue 10: the data dir's
 * SQLite file must not hold it in clear): stored under `name` as `encryptSecret(value, key,
 * name)`, the name as associated data so a sealed value cannot be moved to another name.
 * Answers the plain value. When `name` is missing (or empty), `generate()` makes it and it is stored
 * sealed. A plain value left by an older Fulcrum (anything not `v1.`…; a base64url key never
 * holds a dot) is kept — e.g. cookies signed with it stay valid — and re-stored sealed.
 *
 * @throws FulcrumError('internal', …) naming `name` when the stored value does not decrypt
 *   with `key` (FULCRUM_SECRET_KEY or the data dir's secret-key changed); the value is left
 *   as it is, so restoring the right key recovers it.
 */
export async function loadSealedSecret(
  store: SecretTable,
  name: string,
  key: Buffer,
  generate: () => string,
): Promise<string> {
  let stored = await store.getSecret(name);
  // Several nodes may start at once against a new store: the first value stored wins, and
  // every node reads that one back (one INSERT … ON CONFLICT DO NOTHING; issue 14).
  if (stored === undefined) stored = await store.createSecretIfAbsent(name, encryptSecret(generate(), key, name));
  if (!stored) {
    const value = generate();
    await store.setSecret(name, encryptSecret(value, key, name));
    return value;
  }
  if (!stored.startsWith('v1.')) {
    await store.setSecret(name, encryptSecret(stored, key, name));
    return stored;
  }
  try {
    return decryptSecret(stored, key, name);
  } catch (err) {
    throw new FulcrumError('internal', `secret ${name}: ${(err as Error).message}`);
  }
}
