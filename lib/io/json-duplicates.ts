/**
 * JSON.parse keeps the last of two equal keys without a word. A checkpoint header that
 * names a tensor twice is ambiguous, so we look for repeats ourselves. The text must
 * already have parsed as JSON: this scanner only tracks strings and nesting.
 */

/** The first key that appears twice in one object of `text`, with its path; null if none. */
export function findDuplicateKey(text: string): { key: string; path: string[] } | null {
  interface Frame { keys: Set<string> | null; expectingKey: boolean; path: string[]; lastKey: string }
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      const end = endOfString(text, i);
      if (top?.keys && top.expectingKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) return { key, path: top.path };
        top.keys.add(key);
        top.lastKey = key;
        top.expectingKey = false;
      }
      i = end;
    } else if (c === '{' || c === '[') {
      const path = top ? [...top.path, top.keys ? top.lastKey : '[]'] : [];
      stack.push({ keys: c === '{' ? new Set() : null, expectingKey: c === '{', path, lastKey: '' });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',' && top?.keys) {
      top.expectingKey = true;
    }
  }
  return null;
}

function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}
