/**
 * The command line's archive: a directory, one JSON file per record, at the record's name
 * below it. A record is written whole or not at all (a temporary file, flushed, then linked
 * under its name), so a run that dies half-way leaves no half record that a restore would
 * trip on, and an existing record is never replaced.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Archive, ArchiveReader } from '../ports.js';

export class DirectoryArchive implements Archive {
  readonly description: string;
  private readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
    this.description = `directory ${this.root}`;
  }

  async write(name: string, body: string): Promise<string> {
    const path = resolve(this.root, name);
    // A name comes from listed names, but the archive must never write outside its directory.
    if (!path.startsWith(this.root + sep)) throw new Error(`the record name ${JSON.stringify(name)} leaves ${this.root}`);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(body, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      // A hard link, not a rename: a record of that name already there is never replaced.
      await link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${path} exists already: a record is never replaced`, { cause: error });
      throw error;
    } finally {
      await rm(temporary, { force: true });
    }
    return path;
  }
}

/** The records of a file or a directory (every `.json` file below it, in name order). */
export class DirectoryRecords implements ArchiveReader {
  constructor(private readonly source: string) {}

  async list(): Promise<string[]> {
    const root = resolve(this.source);
    const info = await stat(root).catch((error: NodeJS.ErrnoException) => {
      throw new Error(error.code === 'ENOENT' ? `${this.source} does not exist` : `cannot read ${this.source}: ${error.message}`);
    });
    if (info.isFile()) return [root];
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && e.name.endsWith('.json'))
      .map((e) => join(e.parentPath, e.name))
      .sort((a, b) => (relative(root, a) < relative(root, b) ? -1 : 1));
  }

  read(uri: string): Promise<string> {
    return readFile(uri, 'utf8');
  }
}
