/**
 * Whether a Deno KV database in a local file may have been written since an earlier look,
 * told without a KV read, so that a cookie jar or a cache can answer from what it read before.
 *
 * Deno KV keeps a file database in SQLite's write-ahead-log mode, in which every process on
 * the file maps the same wal-index, the `-shm` file beside it. The index starts with a
 * header that every committed write transaction rewrites (its change counter `iChange`, the
 * last frame and checksums change; https://www.sqlite.org/walformat.html, "The WAL-Index
 * Header"), in this process or any other, before the commit returns. So a header equal to the
 * one seen before a read means that no write was committed since that read began, and the
 * read's result still holds. Reading it costs a file read of 48 bytes, where a KV read costs a
 * round trip to the database thread.
 *
 * The file is used only when it is there, readable without a permission prompt, and holds a
 * header of the known version; anything else (`:memory:`, a remote database, a database
 * reached through a symbolic link, another journal mode) leaves the jar reading KV on every
 * lookup.
 */

/** Bytes of the first copy of the wal-index header. */
const HEADER_BYTES = 48;
/** `iVersion` of the wal-index header SQLite writes. */
const WAL_INDEX_VERSION = 3007000;

/** The change detector of one open database. */
export class _KvChanges {
  #file: Deno.FsFile | null;
  readonly #seen = new Uint8Array(HEADER_BYTES);
  readonly #read = new Uint8Array(HEADER_BYTES);
  #generation = 0;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * The detector of the database at `path` (a path given to `Deno.openKv`, after it opened),
   * or null when its changes cannot be seen from the file.
   */
  static open(path: string): _KvChanges | null {
    if (path === "" || path === ":memory:" || /^[a-z][a-z\d+.-]*:\/\//i.test(path)) return null;
    let file: Deno.FsFile | undefined;
    try {
      // Queried first, so that nothing here asks the user for a permission.
      const granted = (path: string) =>
        Deno.permissions.querySync({ name: "read", path }).state === "granted";
      // SQLite puts the index beside the file a symbolic link points to: not looked for.
      if (!granted(path) || Deno.lstatSync(path).isSymlink) return null;
      const shm = `${path}-shm`;
      if (!granted(shm)) return null;
      file = Deno.openSync(shm, { read: true });
      const changes = new _KvChanges(file);
      if (!changes.#readHeader()) throw new Error("short wal-index header");
      const view = new DataView(changes.#read.buffer);
      const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
      if (view.getUint32(0, little) !== WAL_INDEX_VERSION || changes.#read[12] !== 1) {
        throw new Error("unknown wal-index header");
      }
      changes.#seen.set(changes.#read);
      return changes;
    } catch {
      file?.close();
      return null;
    }
  }

  /** Reads the header into `#read`; false when the file is shorter. */
  #readHeader(): boolean {
    const file = this.#file!;
    file.seekSync(0, Deno.SeekMode.Start);
    let got = 0;
    while (got < HEADER_BYTES) {
      const n = file.readSync(this.#read.subarray(got));
      if (n === null || n === 0) return false;
      got += n;
    }
    return true;
  }

  /**
   * A number that stays the same while nothing was written to the database since the call
   * that returned it: take it before a read, and the read's result holds while it is
   * returned again. Any doubt (a read error, a closed detector) gives a new number.
   */
  generation(): number {
    if (this.#file === null) return ++this.#generation;
    try {
      if (!this.#readHeader()) return ++this.#generation;
    } catch {
      return ++this.#generation;
    }
    const read = this.#read;
    const seen = this.#seen;
    for (let i = 0; i < HEADER_BYTES; i++) {
      if (read[i] !== seen[i]) {
        seen.set(read);
        return ++this.#generation;
      }
    }
    return this.#generation;
  }

  /** Closes the file; every later generation is new. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}
