/**
 * HTTP-dates (RFC 9110 section 5.6.7), as `Expires`, `Last-Modified`, `Date` and `Retry-After`
 * carry them.
 *
 * @module
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";
// Names in any case, as browsers read them ("THU", "AUG", "gmt"): RFC 9110 asks senders for
// the exact case and recipients for robustness.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, "i");
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, "i");
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`, "i");

/**
 * Parses an HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate, or the obsolete RFC 850 and
 * asctime forms, with day, month and zone names in any case. Anything else (other zones,
 * missing comma, two values joined) is `NaN`; unlike `Date.parse`, nothing else passes (not
 * `"soon 2030"`), and asctime, which names no zone, is UTC.
 *
 * @param value The header value.
 * @param now The time a two-digit RFC 850 year is read against (RFC 9110: more than 50 years
 * ahead is the past century).
 * @returns Milliseconds since the epoch, or `NaN`.
 */
export function parseHttpDate(value: string, now: number = Date.now()): number {
  const text = value.trim();
  let parts: { day: string; month: string; year: number; time: string[] };
  let match: RegExpExecArray | null;
  if ((match = IMF_FIXDATE.exec(text))) {
    const [, day, month, year, ...time] = match as unknown as string[];
    parts = { day: day!, month: month!, year: Number(year), time };
  } else if ((match = RFC850.exec(text))) {
    const [, day, month, year, ...time] = match as unknown as string[];
    // RFC 9110: a two-digit year more than 50 years in the future is in the past century.
    const short = Number(year);
    const limit = new Date(now).getUTCFullYear() + 50;
    parts = {
      day: day!,
      month: month!,
      year: 2000 + short > limit ? 1900 + short : 2000 + short,
      time,
    };
  } else if ((match = ASCTIME.exec(text))) {
    const [, month, day, h, m, sec, year] = match as unknown as string[];
    parts = { day: day!, month: month!, year: Number(year), time: [h!, m!, sec!] };
  } else return NaN;
  const [h, m, sec] = parts.time.map(Number) as [number, number, number];
  const day = Number(parts.day.trim());
  if (h > 23 || m > 59 || sec > 60) return NaN;
  const time = Date.UTC(parts.year, MONTHS.indexOf(parts.month.toLowerCase()), day, h, m, sec);
  return new Date(time).getUTCDate() === day ? time : NaN;
}
