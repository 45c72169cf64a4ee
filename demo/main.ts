/**
 * The netaccess demo, through the command line: starts a loopback server, then runs the
 * `netaccess` command (src/cli.ts) against it, each step a process of its own sharing one
 * state file (Deno KV) for the cache, cookies and HSTS: a download with progress, the same URL
 * as a cache hit, a revalidation answered 304, a login whose cookie a second process still
 * sends, a redirect chain in verbose mode, and the network switched off.
 *
 * Run: `npx --yes deno@2.9.6 task demo`
 *
 * @module
 */

const KIB = 1024;
const BLOCK = 64 * KIB;
const BLOCKS = 32;
const PACE_MS = 40;
const CLI = new URL("../src/cli.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const decoder = new TextDecoder();

const served = { big: 0, news: 0 };

function origin(): { url: string; close: () => Promise<void> } {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen() {},
  }, async (request) => {
    const { pathname } = new URL(request.url);
    switch (pathname) {
      case "/big.bin": {
        served.big++;
        let sent = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(stream) {
              if (sent === BLOCKS) return stream.close();
              // Paced on purpose, so that the progress line has something to show.
              await new Promise((resolve) => setTimeout(resolve, PACE_MS));
              stream.enqueue(new Uint8Array(BLOCK).fill(0x2a));
              sent++;
            },
          }, { highWaterMark: 0 }),
          {
            headers: {
              "content-length": String(BLOCK * BLOCKS),
              "content-type": "application/octet-stream",
              "cache-control": "max-age=60",
            },
          },
        );
      }
      case "/news":
        served.news++;
        if (request.headers.get("if-none-match") === '"edition-1"') {
          return new Response(null, { status: 304, headers: { etag: '"edition-1"' } });
        }
        return new Response("today's headlines\n", {
          headers: { "cache-control": "no-cache", etag: '"edition-1"' },
        });
      case "/login": {
        const form = await request.formData().catch(() => new FormData());
        const user = String(form.get("user") ?? "guest");
        return new Response(`welcome, ${user}\n`, {
          headers: { "set-cookie": `session=${user}; Path=/; Max-Age=600; HttpOnly` },
        });
      }
      case "/me": {
        const session = request.headers.get("cookie")?.match(/session=([^;]+)/)?.[1];
        return new Response(session ? `logged in as ${session}\n` : "not logged in\n");
      }
      case "/old":
        return Response.redirect(new URL("/older", request.url), 301);
      case "/older":
        return Response.redirect(new URL("/new", request.url), 302);
      case "/new":
        return new Response("you found the new place\n");
    }
    return new Response("not found\n", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    close: async () => {
      controller.abort();
      await server.finished;
    },
  };
}

/** Runs `netaccess ARGS`, printing the command; stderr goes to the terminal when `live`. */
async function netaccess(
  state: string,
  args: string[],
  options: { live?: boolean; cwd?: string; show?: RegExp } = {},
): Promise<{ code: number; out: string; err: string }> {
  console.log(`\n$ netaccess ${args.join(" ")}`);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, CLI, "--state", state, ...args],
    cwd: options.cwd,
    stdout: "piped",
    stderr: options.live ? "inherit" : "piped",
  }).output();
  const { code, stdout } = output;
  const out = decoder.decode(stdout);
  const err = options.live ? "" : decoder.decode(output.stderr);
  if (out) Deno.stdout.writeSync(stdout);
  const lines = err.split("\n").filter((line) =>
    line && (!options.show || options.show.test(line))
  );
  for (const line of lines) console.log(line);
  if (code !== 0) console.log(`(exit code ${code})`);
  return { code, out, err };
}

const started = performance.now();
const server = origin();
const dir = await Deno.makeTempDir({ prefix: "netaccess_demo_" });
const state = `${dir}/state.sqlite3`;
try {
  console.log(`A loopback server is up at ${server.url}; every command below is a new process,`);
  console.log(`and they share one state file (cache, cookies, HSTS): ${state}`);

  console.log(
    `\n1. A download with progress. The server paces /big.bin on purpose (${BLOCK / KIB} KiB ` +
      `every ${PACE_MS} ms, ${BLOCK * BLOCKS / KIB} KiB in all) so the progress line moves.`,
  );
  await netaccess(state, ["--progress", "-O", `${server.url}/big.bin`], { live: true, cwd: dir });

  console.log("\n2. The same URL again: a cache hit, the server is not asked.");
  await netaccess(state, ["-v", "-O", `${server.url}/big.bin`], { cwd: dir, show: /^\* cache/ });
  console.log(`   (the server sent /big.bin ${served.big} time(s))`);

  console.log(
    "\n3. A page the server wants revalidated (no-cache, ETag): the second run gets 304.",
  );
  await netaccess(state, [`${server.url}/news`]);
  await netaccess(state, ["-v", `${server.url}/news`], {
    show: /^(> if-none-match|< 304|\* cache)/,
  });

  console.log("\n4. A login sets a cookie; a second process is still logged in.");
  await netaccess(state, ["-v", "-d", "user=ada", `${server.url}/login`], {
    show: /^\* cookie/,
  });
  await netaccess(state, [`${server.url}/me`]);

  console.log("\n5. A redirect chain in verbose mode: every hop.");
  await netaccess(state, ["-L", "-v", `${server.url}/old`], {
    show: /^(> GET|< \d{3}|< location|\* redirect)/,
  });

  console.log("\n6. The network switched off: the download comes from the cache...");
  await netaccess(state, ["--offline", "-v", "-o", "again.bin", `${server.url}/big.bin`], {
    cwd: dir,
    show: /^\* cache/,
  });
  console.log("   ...and what the cache does not hold fails with a clear error:");
  await netaccess(state, ["--offline", `${server.url}/new-today`]);

  console.log(`\nDone in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
} finally {
  await server.close();
  await Deno.remove(dir, { recursive: true });
}
