/**
 * `multipart/form-data` bodies (RFC 7578): the parts of a body under a boundary, as `fetch`
 * sends a FormData and as curl's `-F` writes its fields.
 *
 * @module
 */

/** One part of a `multipart/form-data` body. */
export interface MultipartPart {
  /** The field name; none for a file of a `multipart/mixed` part (`-F name=@a,b` in curl). */
  name?: string;
  /**
   * The `Content-Disposition`: `form-data` (the default), or `attachment` as curl writes a part
   * of a body of another type, or a file of a `multipart/mixed` part.
   */
  disposition?: "form-data" | "attachment";
  /** The file name, for a file. */
  filename?: string;
  /** Its `Content-Type`, if any. */
  type?: string;
  /** Further header lines, as written (`Name: value`). */
  headers?: readonly string[];
  /** The content. */
  body: BlobPart;
}

/**
 * The pieces of a `multipart/form-data` body of `parts` under `boundary`, to make a Blob of:
 * files stay parts of it, not copies. A name or file name is quoted with `"`, CR and LF
 * percent-encoded, as browsers and curl write them.
 */
export function multipartPieces(boundary: string, parts: Iterable<MultipartPart>): BlobPart[] {
  const pieces: BlobPart[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: ${part.disposition ?? "form-data"}`;
    if (part.name !== undefined) head += `; name=${quoted(part.name)}`;
    if (part.filename !== undefined) head += `; filename=${quoted(part.filename)}`;
    head += "\r\n";
    if (part.type !== undefined) head += `Content-Type: ${part.type}\r\n`;
    for (const line of part.headers ?? []) head += `${line}\r\n`;
    pieces.push(head + "\r\n", part.body, "\r\n");
  }
  pieces.push(`--${boundary}--\r\n`);
  return pieces;
}

/** A name or file name as the quoted string of a multipart header holds it. */
function quoted(text: string): string {
  return `"${text.replace(/[\n\r"]/g, (c) => c === "\n" ? "%0A" : c === "\r" ? "%0D" : "%22")}"`;
}
