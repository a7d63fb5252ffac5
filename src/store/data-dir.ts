import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * File modes of the data dir (issue 10 point 5): it holds the configuration store, the admin
 * token, the key that encrypts private keys and the tokens' hashes, so only the user running
 * Fulcrum may read it — directory 0700, every file 0600 — whatever the process umask and
 * whatever mode a directory created beforehand (by an operator, a package, a volume) had.
 */

/** Mode of the data directory. */
export const DATA_DIR_MODE = 0o700;
/** Mode of every file in the data directory. */
export const DATA_FILE_MODE = 0o600;

/**
 * Creates `dataDir` when missing and brings it and the files already in it to 0700 / 0600:
 * the directory is chmod-ed (a pre-existing 0755 directory is tightened), and so is every
 * regular file directly in it (an older `fulcrum.db-wal`, `admin-token`, `secret-key`, a
 * file an operator copied in). Symbolic links and sub-directories are left alone (a link
 * may point outside the data dir). Throws the fs error when the directory cannot be created
 * or chmod-ed (e.g. not its owner).
 */
export function secureDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  chmodSync(dataDir, DATA_DIR_MODE);
  for (const name of readdirSync(dataDir)) {
    const file = join(dataDir, name);
    const st = lstatSync(file);
    if (st.isFile() && (st.mode & 0o777) !== DATA_FILE_MODE) chmodSync(file, DATA_FILE_MODE);
  }
}

/**
 * Makes sure `file` exists with mode 0600 before a library that ignores our mode creates it:
 * SQLite creates its database with 0644 minus the umask, and its `-wal` and `-shm` files with
 * the database file's mode (verified on Linux; SQLite's unix VFS `findCreateFileMode`), so a
 * database created 0600 here keeps all three 0600. An existing file is chmod-ed to 0600.
 */
export function createPrivateFile(file: string): void {
  closeSync(openSync(file, 'a', DATA_FILE_MODE));
  chmodSync(file, DATA_FILE_MODE);
}
