/** `file:` URLs for the transport: GET and HEAD, with the size as Content-Length and a content type. */

import { NetworkError, NetworkReplyError } from "../network_error.ts";

const TYPES: ReadonlyMap<string, string> = new Map([
  ["txt", "text/plain;charset=UTF-8"],
  ["md", "text/markdown;charset=UTF-8"],
  ["html", "text/html;charset=UTF-8"],
  ["htm", "text/html;charset=UTF-8"],
  ["css", "text/css;charset=UTF-8"],
  ["csv", "text/csv;charset=UTF-8"],
  ["js", "text/javascript;charset=UTF-8"],
  ["mjs", "text/javascript;charset=UTF-8"],
  ["ts", "text/typescript;charset=UTF-8"],
  ["json", "application/json"],
  ["xml", "application/xml"],
  ["svg", "image/svg+xml"],
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
  ["gif", "image/gif"],
  ["webp", "image/webp"],
  ["ico", "image/vnd.microsoft.icon"],
  ["pdf", "application/pdf"],
  ["zip", "application/zip"],
  ["gz", "application/gzip"],
  ["wasm", "application/wasm"],
  ["mp3", "audio/mpeg"],
  ["mp4", "video/mp4"],
  ["woff2", "font/woff2"],
]);

/** The content type for a file name, from its extension; `application/octet-stream` otherwise. */
export function _contentTypeFor(path: string): string {
  const dot = path.lastIndexOf(".");
  const ext = dot > path.lastIndexOf("/") ? path.slice(dot + 1).toLowerCase() : "";
  return TYPES.get(ext) ?? "application/octet-stream";
}

/** Answers a `file:` exchange from the file system. */
export async function _fetchFile(url: URL, method: string, signal: AbortSignal): Promise<Response> {
  if (method !== "GET" && method !== "HEAD") {
    throw new NetworkReplyError(
      NetworkError.ProtocolInvalidOperationError,
      `Cannot ${method} ${url.href}: file: URLs support GET and HEAD only`,
    );
  }
  // An encoded separator is refused, not decoded: an app that checks `url.pathname` against a
  // root would pass a path that leaves it ("/root/a%2F..%2F..%2Fetc%2Fpasswd"). A backslash
  // separates directories on Windows only; elsewhere it is a character of a file's name.
  const separator = (Deno.build.os === "windows" ? /%(2f|5c)/i : /%2f/i).exec(url.pathname)?.[0];
  if (separator !== undefined) {
    throw new NetworkReplyError(
      NetworkError.ProtocolInvalidOperationError,
      `Invalid file URL ${url.href}: its path holds ${separator}, an encoded ` +
        `${separator[1] === "2" ? '"/"' : '"\\"'}, which a file: URL may not (Node's ` +
        "fileURLToPath refuses it too): decoded, it would separate directories where the URL's " +
        "path shows none",
    );
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch (error) {
    throw new NetworkReplyError(NetworkError.ProtocolUnknownError, `Invalid file URL ${url.href}`, {
      cause: error,
    });
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(url, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NetworkReplyError(
        NetworkError.ContentNotFoundError,
        `File ${path} does not exist`,
        {
          cause: error,
        },
      );
    }
    if (error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable) {
      throw new NetworkReplyError(
        NetworkError.ContentAccessDenied,
        `Cannot read ${path}: ${
          error instanceof Deno.errors.NotCapable
            ? `read permission is needed (run with --allow-read=${path})`
            : "permission denied"
        }`,
        { cause: error },
      );
    }
    throw new NetworkReplyError(
      NetworkError.UnknownContentError,
      `Cannot open ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await file.stat();
  } catch (error) {
    file.close();
    throw new NetworkReplyError(NetworkError.UnknownContentError, `Cannot stat ${path}`, {
      cause: error,
    });
  }
  if (info.isDirectory) {
    file.close();
    throw new NetworkReplyError(
      NetworkError.ContentOperationNotPermittedError,
      `Cannot open ${path}: path is a directory`,
    );
  }
  // The size is a hint, not a declaration (the reply does not hold the body to it): a file in
  // /proc or /sys, a FIFO or one appended to while read has another length. A size of 0 says
  // nothing (a file in /proc), so none is given.
  const headers = new Headers({ "content-type": _contentTypeFor(path) });
  if (info.isFile && info.size > 0) headers.set("content-length", String(info.size));
  if (info.mtime) headers.set("last-modified", info.mtime.toUTCString());
  if (method === "HEAD" || signal.aborted) {
    file.close();
    return new Response(null, { status: 200, statusText: "OK", headers });
  }
  return new Response(file.readable, { status: 200, statusText: "OK", headers });
}
