/**
 * Decoders of content codings the transport uses beside `DecompressionStream`, and the words for
 * why a body does not decode.
 *
 * @module
 */

/** node:zlib, loaded when a gzip, deflate or zstd body is first decoded. */
let zlib: Promise<typeof import("node:zlib")> | undefined;

/** What a body that goes on after its compressed data fails with. */
const TRAILING = "data follows the end of the compressed stream";

/** The two bytes a gzip member opens with (RFC 1952 section 2.3.1). */
const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * A gzip decoder that decodes every member of a body: RFC 1952 section 2.2 makes a gzip file "a
 * series of members", and zlib's gunzip (Node's `fetch`, curl's libz, Go, Python) reads them
 * all, where `DecompressionStream` fails after the first. Zero bytes after the last member are
 * padding, skipped as zlib skips them; other bytes there fail the body.
 */
export async function _gunzip(): Promise<TransformStream<Uint8Array, Uint8Array>> {
  const { createGunzip } = await (zlib ??= import("node:zlib"));
  /** How many bytes of the body's opening were seen, and whether they were gzip's magic. */
  let opened = 0;
  let magic = true;
  return inflating({
    zeroPadding: true,
    open: () => createGunzip(),
    pieces(chunk) {
      for (let at = 0; opened < 2 && at < chunk.byteLength; at++) {
        magic &&= chunk[at] === GZIP_MAGIC[opened++];
      }
      return [chunk];
    },
    // A header past the first member's end: what follows that end is not another member.
    failure: (error) =>
      magic && opened === 2 && error.message === "incorrect header check"
        ? new Error(TRAILING, { cause: error })
        : error,
  });
}

/**
 * A deflate decoder: zlib's format (RFC 1950), or raw deflate (RFC 1951) as some servers send
 * it, told from the body's first two bytes (which decoder of a stack it is makes no difference).
 * node:zlib's fails a body that ends before its compressed data does (a zlib body without its
 * Adler-32 checksum too), where `DecompressionStream` ends it as if it were whole; bytes after
 * the end of the compressed data, which node:zlib passes over, fail the body here.
 */
export async function _inflate(): Promise<TransformStream<Uint8Array, Uint8Array>> {
  const { createInflate, createInflateRaw } = await (zlib ??= import("node:zlib"));
  let inflater!: import("node:zlib").Inflate;
  let written = 0;
  return inflating({
    opening: 2,
    open(opening) {
      const zlibHeader = opening.byteLength < 2 || isZlibHeader(opening[0]!, opening[1]!);
      inflater = zlibHeader ? createInflate() : createInflateRaw();
      return inflater;
    },
    pieces(chunk) {
      written += chunk.byteLength;
      return [chunk];
    },
    // node:zlib ends the decoder once its data is decoded, counting the bytes it took.
    ended() {
      if (inflater.bytesWritten < written) throw new Error(TRAILING);
    },
  });
}

/** Whether two bytes open a zlib stream (RFC 1950): method 8, and a header check of 31. */
function isZlibHeader(cmf: number, flg: number): boolean {
  return (cmf & 0x0f) === 8 && ((cmf << 8) | flg) % 31 === 0;
}

/**
 * A zstd decoder (RFC 8878). node:zlib's decodes no further than the end of a frame in one write
 * and ends a body cut short as if it were whole, so the frames are followed here from their
 * headers: each goes to it in writes of its own (every frame of a body is decoded, as zstd's own
 * tool does), and a body that ends inside a frame, or goes on with bytes that open none, fails.
 */
export async function _unzstd(): Promise<TransformStream<Uint8Array, Uint8Array>> {
  const { createZstdDecompress } = await (zlib ??= import("node:zlib"));
  const frames = new ZstdFrames();
  return inflating({
    open: () => createZstdDecompress(),
    pieces(chunk) {
      const ends = frames.ends(chunk);
      if (ends.length === 0 || (ends.length === 1 && ends[0] === chunk.byteLength)) return [chunk];
      const pieces: Uint8Array[] = [];
      let from = 0;
      for (const end of [...ends, chunk.byteLength]) {
        if (end > from) pieces.push(chunk.subarray(from, end));
        from = end;
      }
      return pieces;
    },
    end() {
      const unfinished = frames.unfinished;
      if (unfinished !== undefined) throw new Error(unfinished);
    },
    failure: (error) => frames.failure(error),
  });
}

/** A node:zlib decoder. */
type Inflater = import("node:zlib").Gunzip | import("node:zlib").Inflate;

/** How a node:zlib decoder is made and fed, and how its failures read. */
interface Inflating {
  /** How many bytes of the body `open` needs to see (all of a shorter body); none when unsaid. */
  opening?: number;
  /** Makes the decoder, given the body's opening bytes. */
  open(opening: Uint8Array): Inflater;
  /** The writes a chunk of the body makes, in order. */
  pieces(chunk: Uint8Array): Uint8Array[];
  /** Checks, once the body has ended, that it ended whole. */
  end?(): void;
  /** Checks, once the decoder has ended, that it took the whole body. */
  ended?(): void;
  /** Whether zero bytes after the decoder's end are padding, skipped (gzip's), not data. */
  zeroPadding?: boolean;
  /** The error a failure of the decoder's reads as. */
  failure?(error: Error): Error;
}

/**
 * A node:zlib decoder as a `TransformStream` of plain `Uint8Array`s. A failure of the decoder,
 * or its end before the body's, fails the stream when the decoder tells it, not at the next
 * chunk: a body that stays open may send none.
 */
function inflating(how: Inflating): TransformStream<Uint8Array, Uint8Array> {
  let output!: TransformStreamDefaultController<Uint8Array>;
  let inflater: Inflater | undefined;
  /** The body's first bytes, held until `open` has as many as it needs. */
  let held: Uint8Array = new Uint8Array(0);
  /** Settles when the decoder ends; `failed` rejects when it fails. */
  let ended!: Promise<void>;
  let failed!: Promise<void>;
  /** Whether the decoder ended: any bytes after that follow the end of its data. */
  let done = false;
  const open = (opening: Uint8Array): Inflater => {
    const opened = how.open(opening);
    opened.on("data", (chunk: Uint8Array) => {
      try {
        // A Uint8Array of its own, not node's Buffer: a view of the same bytes.
        output.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch {
        // The body was cancelled: nothing reads on.
      }
    });
    ended = new Promise<void>((resolve, reject) => {
      const fail = (error: unknown) => {
        reject(error);
        output.error(error);
      };
      opened.once("end", () => {
        done = true;
        try {
          how.ended?.();
          resolve();
        } catch (error) {
          fail(error);
        }
      });
      opened.once("error", (error: Error) => fail(how.failure ? how.failure(error) : error));
    });
    failed = ended.then(() => {});
    failed.catch(() => {});
    return opened;
  };
  const write = (into: Inflater, chunk: Uint8Array): Promise<void> => {
    if (done) {
      if (how.zeroPadding && chunk.every((byte) => byte === 0)) return Promise.resolve();
      throw new Error(TRAILING);
    }
    let written: Promise<void> | undefined;
    for (const piece of how.pieces(chunk)) {
      written = new Promise<void>((resolve) => into.write(piece, () => resolve()));
    }
    return Promise.race([written, failed]);
  };
  return new TransformStream({
    start(controller) {
      output = controller;
    },
    transform(chunk) {
      if (inflater === undefined) {
        if (held.byteLength + chunk.byteLength < (how.opening ?? 0)) {
          held = concat(held, chunk);
          return;
        }
        if (held.byteLength > 0) chunk = concat(held, chunk);
        inflater = open(chunk);
      }
      return write(inflater, chunk);
    },
    async flush() {
      if (inflater === undefined) {
        inflater = open(held);
        if (held.byteLength > 0) await write(inflater, held);
      }
      try {
        how.end?.();
      } catch (error) {
        inflater.destroy();
        throw error;
      }
      inflater.end();
      return ended;
    },
    cancel() {
      inflater?.destroy();
    },
  });
}

/** Two byte arrays, one after the other. */
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const both = new Uint8Array(a.byteLength + b.byteLength);
  both.set(a);
  both.set(b, a.byteLength);
  return both;
}

/** A zstd frame's magic number (RFC 8878 section 3.1.1), read little-endian. */
const ZSTD_MAGIC = 0xfd2fb528;
/** A skippable frame's magic numbers, but for their low four bits (RFC 8878 section 3.1.2). */
const SKIPPABLE_MAGIC = 0x184d2a50;
/** The sizes of a frame header's Dictionary_ID and Frame_Content_Size fields, by their flags. */
const DICTIONARY_ID_SIZES = [0, 1, 2, 4];
const CONTENT_SIZE_SIZES = [0, 2, 4, 8];
/** The fields read: a magic number, a skippable frame's size, a frame header's descriptor, a
 * block header; and their sizes. */
const MAGIC = 0, SKIPPABLE_SIZE = 1, DESCRIPTOR = 2, BLOCK = 3;
const FIELD_SIZES = [4, 4, 1, 3];

/**
 * Where the frames of a zstd body end, read from their frame and block headers (RFC 8878
 * section 3.1) without decoding: the bytes of a block are passed over by its size.
 */
class ZstdFrames {
  /** The field being read, its value so far and how many of its bytes were read. */
  #field = MAGIC;
  #value = 0;
  #read = 0;
  /** Bytes to pass over before the next field; whether the frame ends after them. */
  #skip = 0;
  #last = false;
  /** The checksum's size at the end of the frame being read. */
  #checksum = 0;
  #frames = 0;

  /**
   * Why the bytes so far, taken as a whole body, are not whole frames (one at least); bytes
   * too few for a magic number after a frame are bytes after its end.
   */
  get unfinished(): string | undefined {
    if (this.#frames === 0 || this.#field !== MAGIC || this.#skip > 0) {
      return "unexpected end of file";
    }
    return this.#read > 0 ? TRAILING : undefined;
  }

  /**
   * The error a failure of the decoder's reads as: the decoder fails at the first bytes of a
   * magic number that is no frame's before it is read whole here.
   */
  failure(error: Error): Error {
    if (this.#field !== MAGIC || this.#read === 0) return error;
    const why = this.#frames > 0 ? TRAILING : "no zstd frame opens the data";
    return new Error(why, { cause: error });
  }

  /** The offsets in `chunk` at which a frame ends; throws at bytes that open no frame. */
  ends(chunk: Uint8Array): number[] {
    const ends: number[] = [];
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.#skip > 0) {
        const passed = Math.min(this.#skip, chunk.byteLength - at);
        this.#skip -= passed;
        at += passed;
      } else {
        this.#value += chunk[at++]! * 2 ** (8 * this.#read);
        if (++this.#read < FIELD_SIZES[this.#field]!) continue;
        this.#next();
      }
      if (this.#skip === 0 && this.#last) {
        this.#last = false;
        this.#frames++;
        ends.push(at);
      }
    }
    return ends;
  }

  /** Takes a field that was read whole. */
  #next(): void {
    const value = this.#value;
    this.#value = 0;
    this.#read = 0;
    if (this.#field === MAGIC) {
      if (value === ZSTD_MAGIC) this.#field = DESCRIPTOR;
      else if (value - (value & 0x0f) === SKIPPABLE_MAGIC) this.#field = SKIPPABLE_SIZE;
      else throw new Error(this.#frames > 0 ? TRAILING : "no zstd frame opens the data");
    } else if (this.#field === SKIPPABLE_SIZE) {
      this.#skip = value;
      this.#last = true;
      this.#field = MAGIC;
    } else if (this.#field === DESCRIPTOR) {
      const single = (value & 0x20) !== 0;
      const sizeFlag = value >> 6;
      this.#checksum = value & 0x04 ? 4 : 0;
      this.#skip = (single ? 0 : 1) + DICTIONARY_ID_SIZES[value & 3]! +
        (sizeFlag === 0 && single ? 1 : CONTENT_SIZE_SIZES[sizeFlag]!);
      this.#field = BLOCK;
    } else {
      const type = (value >> 1) & 3;
      if (type === 3) throw new Error("a zstd block is of the reserved type");
      // A raw or compressed block's bytes follow it; a run-length block's one byte.
      this.#skip = type === 1 ? 1 : value >>> 3;
      if (value & 1) {
        this.#skip += this.#checksum;
        this.#last = true;
        this.#field = MAGIC;
      }
    }
  }
}

/**
 * Why a body does not decode, in words: `DecompressionStream` tells of bytes after the end of
 * the compressed data only as a write that failed.
 */
export function _decodeFailure(error: unknown): string {
  const message = (error as Error)?.message;
  return message === "failed to write whole buffer" ? TRAILING : String(message);
}
