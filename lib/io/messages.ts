/**
 * Error messages quote names that come from the files themselves (tensor names, zip
 * entries, pickle globals, JSON keys). A hostile or corrupt file can put line breaks or
 * control characters in those, and an InputError must stay one readable line, so every
 * such name goes through here.
 */

const MAX_NAME = 120;

/** `text` with control characters and line breaks written as \u escapes. */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `name` in double quotes, JSON-escaped, shortened when long. */
export function quoted(name: string): string {
  return oneLine(JSON.stringify(name.length > MAX_NAME ? `${name.slice(0, MAX_NAME)}...` : name));
}

/** Why JSON.parse refused `text`, as one line, with a line and column when V8 gives a position. */
export function jsonFault(err: unknown, text: string): string {
  const message = (err as Error)?.message ?? String(err);
  const position = /at position (\d+)/.exec(message);
  // V8 either names a position or quotes a stretch of the input; keep only the reason.
  const reason = message.split(/ in JSON at position| after JSON at position|, "/)[0];
  const what = oneLine(reason.length > 80 ? `${reason.slice(0, 80)}...` : reason);
  if (!position) return what;
  const before = text.slice(0, Number(position[1]));
  return `${what} at line ${before.split('\n').length}, column ${before.length - before.lastIndexOf('\n')}`;
}
