/**
 * Progress lines for the command line: bytes, total, percent, rate and time left, redrawn in
 * place at most ten times a second on a terminal, one line per transfer, and a last line at
 * 100%. Elsewhere (a pipe, a file) each transfer writes its last line alone, without the
 * terminal's control codes.
 *
 * @module
 */

/** Where progress lines go (stderr). */
export interface _ProgressSink {
  writeSync(bytes: Uint8Array): number;
  /** Whether the sink is a terminal, where lines are redrawn in place (none: it is not). */
  isTerminal?(): boolean;
}

const encoder = new TextEncoder();
const REDRAW_MS = 100;

/** `1536` as `1.5 KiB`. */
export function _formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Seconds as `m:ss` (or `h:mm:ss`). */
export function _formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** One transfer's line. */
export class _ProgressBar {
  readonly #display: _ProgressDisplay;
  label: string;
  loaded = 0;
  total = -1;
  done = false;
  #started = performance.now();
  #ended = 0;

  constructor(display: _ProgressDisplay, label: string) {
    this.#display = display;
    this.label = label;
  }

  /** Records progress; the display redraws when its next frame is due. */
  update(loaded: number, total: number): void {
    if (this.done) return;
    this.loaded = loaded;
    if (total >= 0) this.total = total;
    this.#display.changed();
  }

  /** Marks the transfer complete: its line shows 100% and the final size. */
  finish(): void {
    if (this.done) return;
    if (this.total < this.loaded) this.total = this.loaded;
    this.loaded = Math.max(this.loaded, this.total);
    this.stop();
    this.#display.finished(this);
  }

  /** Stops the line where it stands (a transfer that failed): it changes no more. */
  stop(): void {
    if (this.done) return;
    this.done = true;
    this.#ended = performance.now();
  }

  /** The line as it stands. */
  render(): string {
    const elapsed = ((this.done ? this.#ended : performance.now()) - this.#started) / 1000;
    const rate = elapsed > 0 ? this.loaded / elapsed : 0;
    const parts = [this.label];
    if (this.total >= 0) {
      const percent = this.total === 0 ? 100 : Math.floor((this.loaded / this.total) * 100);
      parts.push(
        `${_formatBytes(this.loaded)} / ${_formatBytes(this.total)}`,
        `${String(percent).padStart(3)}%`,
      );
    } else {
      parts.push(_formatBytes(this.loaded));
    }
    parts.push(`${_formatBytes(Math.round(rate))}/s`);
    if (this.done) parts.push(`in ${_formatDuration(elapsed)}`);
    else if (this.total >= 0 && rate > 0) {
      parts.push(`${_formatDuration((this.total - this.loaded) / rate)} left`);
    }
    return parts.join("  ");
  }
}

/**
 * The progress lines on stderr. On a terminal, redraws in place (carriage return, and
 * cursor-up for several lines) at most every 100 ms; a finished transfer's line is drawn at
 * once. Elsewhere, a finished transfer's line is written, with a newline, and nothing else.
 */
export class _ProgressDisplay {
  readonly #sink: _ProgressSink | null;
  readonly #terminal: boolean;
  readonly #bars: _ProgressBar[] = [];
  #drawnLines = 0;
  #dirty = false;
  #lastDraw = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** How many {@linkcode settle}s wait for their {@linkcode resume}: no frame is drawn. */
  #held = 0;

  /** A display writing to `sink`, or one that draws nothing for `null`. */
  constructor(sink: _ProgressSink | null) {
    this.#sink = sink;
    this.#terminal = sink?.isTerminal?.() ?? false;
  }

  /** Whether lines are drawn. */
  get enabled(): boolean {
    return this.#sink !== null;
  }

  /** Adds a line. */
  bar(label: string): _ProgressBar {
    const bar = new _ProgressBar(this, label);
    this.#bars.push(bar);
    return bar;
  }

  /** Called by a bar that finished: its last line, at once. */
  finished(bar: _ProgressBar): void {
    if (this.#sink === null || !this.#bars.includes(bar)) return;
    if (this.#terminal) {
      this.changed(true);
      return;
    }
    this.#bars.splice(this.#bars.indexOf(bar), 1);
    this.#sink.writeSync(encoder.encode(`${bar.render()}\n`));
  }

  /** Called by bars: draws now when a frame is due (or `now`), else schedules one. */
  changed(now = false): void {
    if (this.#sink === null || !this.#terminal) return;
    this.#dirty = true;
    const since = performance.now() - this.#lastDraw;
    if (now || since >= REDRAW_MS) {
      this.draw();
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.draw();
    }, REDRAW_MS - since);
  }

  /** Redraws every line in place. */
  draw(): void {
    if (this.#sink === null || !this.#terminal || this.#bars.length === 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#held > 0) {
      this.#dirty = true;
      return;
    }
    this.#lastDraw = performance.now();
    this.#dirty = false;
    const up = this.#drawnLines > 1 ? `\x1b[${this.#drawnLines - 1}A` : "";
    const lines = this.#bars.map((bar) => `\r\x1b[2K${bar.render()}`).join("\n");
    this.#sink.writeSync(encoder.encode(up + lines));
    this.#drawnLines = this.#bars.length;
  }

  /**
   * Clears the drawn lines, so that other output can be written where they were; the next
   * frame draws them again below it.
   */
  clear(): void {
    if (this.#sink === null || this.#drawnLines === 0) return;
    const erase = "\r\x1b[2K" + "\x1b[1A\r\x1b[2K".repeat(this.#drawnLines - 1);
    this.#sink.writeSync(encoder.encode(erase));
    this.#drawnLines = 0;
    this.#dirty = true;
  }

  /**
   * Ends the lines of `bars` (one transfer's) for good, as they stand, each on a line of its
   * own: on a terminal, the lines drawn are cleared, those of `bars` written with a newline and
   * the others left to be drawn again, below what is written next. No frame is drawn until
   * {@linkcode resume}, so that the transfer's output (`-w`, its error) is written on lines of
   * its own meanwhile.
   */
  settle(bars: readonly _ProgressBar[]): void {
    this.#held++;
    const settled = bars.filter((bar) => this.#bars.includes(bar));
    if (this.#sink === null || settled.length === 0) return;
    this.clear();
    for (const bar of settled) {
      bar.stop();
      this.#bars.splice(this.#bars.indexOf(bar), 1);
    }
    this.#sink.writeSync(encoder.encode(settled.map((bar) => `${bar.render()}\n`).join("")));
  }

  /** After {@linkcode settle}: the lines of the other transfers are drawn again. */
  resume(): void {
    this.#held = Math.max(0, this.#held - 1);
    if (this.#held === 0 && this.#dirty && this.#bars.length > 0) this.changed();
  }

  /**
   * Ends the display: the last frame, then a newline, so what follows starts on a line of its
   * own. Lines of finished bars are kept; the display can be reused for new bars.
   */
  end(): void {
    if (this.#sink === null) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#bars.length > 0) {
      if (this.#terminal) {
        if (this.#dirty) this.draw();
        this.#sink.writeSync(encoder.encode("\n"));
      } else {
        this.#sink.writeSync(
          encoder.encode(this.#bars.map((bar) => `${bar.render()}\n`).join("")),
        );
      }
    }
    this.#bars.length = 0;
    this.#drawnLines = 0;
  }
}
