/**
 * `-T FILE`: the file as a Blob that reads it only as it is sent, a slice at a time, so that a
 * large file is not held in memory. Its size is the file's, sent as the Content-Length.
 * @module
 */

/** The most bytes `stream()` reads from the file at once. */
const CHUNK = 64 * 1024;

/**
 * A byte range of a file, read from the file each time its bytes are asked for.
 */
export class _FileBlob extends Blob {
  readonly #path: string;
  readonly #option: string;
  readonly #start: number;
  readonly #end: number;
  /** The file's size when it was opened, and why it could not be read whole: its slices' too. */
  readonly #file: { size: number; shorter?: string };

  private constructor(
    path: string,
    option: string,
    start: number,
    end: number,
    file: { size: number; shorter?: string },
  ) {
    super();
    this.#path = path;
    this.#option = option;
    this.#start = start;
    this.#end = end;
    this.#file = file;
  }

  /**
   * Why the file could not be sent whole, once reading it (this Blob or a slice of it) found
   * it shorter than its size when it was opened; `undefined` before.
   */
  get shorter(): string | undefined {
    return this.#file.shorter;
  }

  /**
   * The file at `path`, whole.
   *
   * @param path The file.
   * @param option The option that names it, for errors.
   * @returns The Blob, its bytes not read.
   * @throws {Error} When the file cannot be read or is not a file.
   */
  static async open(path: string, option: string): Promise<_FileBlob> {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("it is not a file");
    // Opened once now, so that a file that cannot be read fails before anything is sent.
    (await Deno.open(path)).close();
    return new _FileBlob(path, option, 0, info.size, { size: info.size });
  }

  override get size(): number {
    return this.#end - this.#start;
  }

  override slice(start = 0, end = this.size): Blob {
    const size = this.size;
    const at = (offset: number) => Math.min(size, Math.max(0, offset < 0 ? size + offset : offset));
    const from = at(start);
    return new _FileBlob(
      this.#path,
      this.#option,
      this.#start + from,
      this.#start + Math.max(from, at(end)),
      this.#file,
    );
  }

  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = new Uint8Array(this.size);
    if (bytes.byteLength === 0) return bytes;
    using file = await Deno.open(this.#path);
    await file.seek(this.#start, Deno.SeekMode.Start);
    let read = 0;
    while (read < bytes.byteLength) {
      const n = await file.read(bytes.subarray(read));
      if (n === null) {
        this.#file.shorter = `The ${this.#option} file ${this.#path} got shorter while it ` +
          `was sent: ${this.#start + read} bytes read of the ${this.#file.size} it had ` +
          `(sent as its Content-Length)`;
        throw new Error(this.#file.shorter);
      }
      read += n;
    }
    return bytes;
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    return (await this.bytes()).buffer;
  }

  override async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    let at = 0;
    return new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (controller) => {
        if (at >= this.size) {
          controller.close();
          return;
        }
        const end = Math.min(at + CHUNK, this.size);
        controller.enqueue(await (this.slice(at, end) as _FileBlob).bytes());
        at = end;
      },
    }, { highWaterMark: 0 });
  }
}
