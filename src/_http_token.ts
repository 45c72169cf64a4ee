/**
 * HTTP tokens (RFC 9110 section 5.6.2): methods, header names, auth schemes and parameters.
 *
 * @module
 */

/** One `tchar`. */
export const TCHAR: RegExp = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** A whole `token`: one or more `tchar`. */
export const TOKEN: RegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `value` is a string and an HTTP token. */
export function isToken(value: unknown): value is string {
  return typeof value === "string" && TOKEN.test(value);
}
