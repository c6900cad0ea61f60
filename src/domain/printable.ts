// Text qbg stores and later prints (a VSI type's description, a file name, a reason lldpad gave) must not carry
// control characters: an ESC sequence in a description rewrites an admin's terminal when `qbg profile list` prints
// it, a NUL cuts C strings, a lone surrogate cannot be encoded as UTF-8. They are refused at input (checkPrintable,
// from the validators) and, for rows stored before that, escaped on every terminal output (escapeControls).
import { fieldError } from './errors.js';

/** C0 (U+0000–U+001F), DEL (U+007F), C1 (U+0080–U+009F); tab and newline only where a text may be multi-line. */
function isControl(code: number, multiLine: boolean): boolean {
  if (multiLine && (code === 0x09 || code === 0x0a)) return false;
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
}

export interface ControlChar {
  /** UTF-16 index in the string */
  index: number;
  /** the code unit, e.g. 0x1b for ESC, 0xd800 for a lone high surrogate */
  code: number;
}

/** The first control character or lone surrogate in `s`, or undefined if there is none. */
export function findControlChar(s: string, opts: { multiLine?: boolean } = {}): ControlChar | undefined {
  const multiLine = opts.multiLine === true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isControl(c, multiLine)) return { index: i, code: c };
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++; // a pair: one astral character
      else return { index: i, code: c };
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return { index: i, code: c };
    }
  }
  return undefined;
}

/** "U+001B", as the error names the character. */
export function codePointName(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** `s` itself, or a 400 QBG_ERR_CONTROL_CHAR naming `field`, the character and where it is. */
export function checkPrintable(field: string, s: string, opts: { multiLine?: boolean } = {}): string {
  const bad = findControlChar(s, opts);
  if (bad) throw fieldError(field, 'QBG_ERR_CONTROL_CHAR', field, codePointName(bad.code), bad.index);
  return s;
}

/**
 * Replace every control character and lone surrogate by a visible \u escape: tab/newline kept if multiLine, and a
 * CR right before a newline if crlf (a lone CR, which redraws a line, is still escaped).
 */
export function escapeControls(s: string, opts: { multiLine?: boolean; crlf?: boolean } = {}): string {
  if (findControlChar(s, opts) === undefined) return s; // the common case: no copy
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (opts.crlf && c === 0x0d && s.charCodeAt(i + 1) === 0x0a) {
      out += '\r';
      continue;
    }
    const paired = c >= 0xd800 && c <= 0xdbff && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
    if (paired) {
      out += s[i] + s[i + 1];
      i++;
    } else if (isControl(c, opts.multiLine === true) || (c >= 0xd800 && c <= 0xdfff)) {
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    } else {
      out += s[i];
    }
  }
  return out;
}
