/**
 * Untrusted text made safe for a terminal.
 *
 * Everything the CLI prints about a lock directory comes from files others may
 * write: file names, holder records (name, host, command, id), audit lines
 * (reason, user, command…). A terminal obeys what it is sent, so a raw ESC
 * can clear the screen or move the cursor, a newline or carriage return can
 * forge a table row, and a bidi override can make `rm-me` read `em-mr`.
 * Every such field goes through {@link escapeText} before it is printed for a
 * human; `--json` output is left exact (JSON.stringify escapes it for JSON).
 *
 * What is escaped, and why each: C0 (U+0000–U+001F, including tab, newline and
 * carriage return: each can move the cursor or break a row), DEL, C1
 * (U+0080–U+009F: U+009B is a one-byte CSI on many terminals), the bidi
 * controls U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069 (they reorder
 * what is shown), U+2028/U+2029 (line breaks to some terminals and editors),
 * and lone surrogates (not text at all; encoders turn them into U+FFFD or
 * worse). The escapes are visible and printable: `\t`, `\n`, `\r`, `\xHH` below
 * U+0100, `\u{HHHH}` above.
 *
 * A backslash is deliberately left as it is: the escaped form then contains
 * nothing that would be escaped again, so escaping is idempotent and a field
 * escaped early (before truncating or shortening it) is safe to pass through a
 * table that escapes every cell again.
 *
 * @module
 */

/**
 * Everything that is escaped: C0, DEL, C1, the bidi controls, U+2028/U+2029,
 * and a surrogate that is not part of a pair (the `u` flag makes a paired one
 * one code point, which this class does not match).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]/gu;

const SHORT: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function escapeOne(char: string): string {
  const short = SHORT[char];
  if (short !== undefined) return short;
  const code = char.codePointAt(0)!;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/**
 * `text` with every character that could control a terminal or break a line
 * replaced by a visible escape. Idempotent: `escapeText(escapeText(s)) === escapeText(s)`.
 *
 * @example
 * ```ts
 * escapeText('jobs\x1b[2J');      // 'jobs\\x1b[2J'
 * escapeText('a\nb\tc');          // 'a\\nb\\tc'
 * escapeText('txt.\u202egnp');    // 'txt.\\u{202e}gnp'
 * escapeText('caf\u00e9 \u{1f512}'); // unchanged: printable text stays as it is
 * ```
 */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/**
 * Like {@link escapeText}, for our own multi-line text (hints, stack traces):
 * each line is escaped, the line breaks between them are kept. Only for text
 * whose line breaks are ours: untrusted fields inside it must be escaped with
 * `escapeText` where they are put in.
 *
 * @example
 * ```ts
 * escapeLines('Usage: deadbolt run NAME -- CMD\n  e.g. …'); // the same two lines
 * ```
 */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeText).join('\n');
}
