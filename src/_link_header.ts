/** The `Link` header (RFC 8288 section 3): links with their target and parameters. */

/** One link of a `Link` header. */
export interface LinkValue {
  /** The target as written (a URI reference, not yet resolved). */
  target: string;
  /** The parameters, names in lower case; a parameter given twice keeps its first value. */
  params: Map<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a `Link` header value (several headers joined by commas are fine). Malformed links
 * are skipped up to the next comma; commas inside `<...>` and quoted strings do not split.
 */
export function parseLinkHeader(value: string): LinkValue[] {
  const links: LinkValue[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const skipToComma = () => {
    let quoted = false;
    for (; i < n; i++) {
      const c = value[i];
      if (quoted) {
        if (c === "\\") i++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === ",") break;
    }
    i++;
  };
  const token = () => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  while (i < n) {
    skipSpace();
    if (value[i] === ",") {
      i++;
      continue;
    }
    if (value[i] !== "<") {
      skipToComma();
      continue;
    }
    const close = value.indexOf(">", i);
    if (close < 0) break;
    const link: LinkValue = { target: value.slice(i + 1, close).trim(), params: new Map() };
    i = close + 1;
    let ok = true;
    for (;;) {
      skipSpace();
      if (i >= n || value[i] === ",") break;
      if (value[i] !== ";") {
        ok = false;
        break;
      }
      i++;
      skipSpace();
      const name = token().toLowerCase();
      if (name === "") {
        // An empty parameter (a trailing `;`, or `;;`) is nothing, as RFC 8288's appendix B
        // parses it; anything else there makes the link malformed.
        if (i >= n || value[i] === "," || value[i] === ";") continue;
        ok = false;
        break;
      }
      skipSpace();
      let param = "";
      if (value[i] === "=") {
        i++;
        skipSpace();
        if (value[i] === '"') {
          i++;
          while (i < n && value[i] !== '"') {
            if (value[i] === "\\" && i + 1 < n) i++;
            param += value[i++];
          }
          i++;
        } else param = token();
      }
      if (!link.params.has(name)) link.params.set(name, param);
    }
    if (ok) links.push(link);
    if (i < n && value[i] !== ",") skipToComma();
    else i++;
  }
  return links;
}

/**
 * The target of the first link whose `rel` includes `rel` (case-insensitive), resolved against
 * `base`, or `undefined`. A link whose `anchor` names another resource is about that one and is
 * skipped; an `anchor` resolving to `base` itself (`""`, its own path) leaves the context this
 * resource (RFC 8288 section 3.2); one naming a fragment of it (`"#x"`) names a part of it, and is
 * skipped too.
 */
export function findLink(value: string | null, rel: string, base: URL): URL | undefined {
  if (value === null) return undefined;
  const wanted = rel.toLowerCase();
  for (const link of parseLinkHeader(value)) {
    const anchor = link.params.get("anchor");
    if (anchor !== undefined && !isContext(anchor, base)) continue;
    const rels = (link.params.get("rel") ?? "").toLowerCase().split(/[ \t]+/);
    if (!rels.includes(wanted)) continue;
    try {
      return new URL(link.target, base);
    } catch {
      continue;
    }
  }
  return undefined;
}

/** Whether `anchor` resolves against `base` to `base` itself (without its own fragment). */
function isContext(anchor: string, base: URL): boolean {
  try {
    const own = new URL(base);
    own.hash = "";
    return new URL(anchor, own).href === own.href;
  } catch {
    return false;
  }
}
