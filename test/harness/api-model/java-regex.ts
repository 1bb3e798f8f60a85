/**
 * botocore's `pattern` constraints are Java regular expressions (AWS's servers are Java).
 * JavaScript's syntax differs in places: POSIX classes (\p{Alnum}), \Q..\E quoting, possessive
 * quantifiers and atomic groups, nested class unions, \h, \A and \z, escapes of characters
 * that need none. Translated to a JavaScript RegExp (u flag) that matches the whole value,
 * as AWS does: IAM refuses a role Description with characters outside
 * `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`, which a partial match would accept
 * ("Value '...' at 'description' failed to satisfy constraint: Member must satisfy regular
 * expression pattern", https://zenn.dev/kenpi/articles/d6d64d547e5146).
 * TEST-ONLY.
 */

/** Java's POSIX character classes (US-ASCII only, as Java has them without UNICODE_CHARACTER_CLASS). */
const POSIX: Record<string, string> = {
  Lower: 'a-z',
  Upper: 'A-Z',
  ASCII: '\\x00-\\x7F',
  Alpha: 'a-zA-Z',
  Digit: '0-9',
  Alnum: 'a-zA-Z0-9',
  Punct: '!-\\/:-@\\[-`{-~',
  Graph: '!-~',
  Print: ' -~',
  Blank: ' \\t',
  Cntrl: '\\x00-\\x1F\\x7F',
  XDigit: '0-9a-fA-F',
  Space: ' \\t\\n\\x0B\\f\\r',
};

/** Java Unicode property names JavaScript spells otherwise. */
const PROPERTIES: Record<string, string> = {
  IsAlphabetic: 'Alphabetic',
  Alphabetic: 'Alphabetic',
  IsLetter: 'L',
  IsDigit: 'Nd',
  IsUppercase: 'Uppercase',
  IsLowercase: 'Lowercase',
  IsWhite_Space: 'White_Space',
  IsWhiteSpace: 'White_Space',
  javaLowerCase: 'Lowercase',
  javaUpperCase: 'Uppercase',
  javaWhitespace: 'White_Space',
  IsPunctuation: 'P',
  IsControl: 'Cc',
};

const HORIZONTAL_SPACE = ' \\t\\xA0\\u1680\\u180E\\u2000-\\u200A\\u202F\\u205F\\u3000';
const VERTICAL_SPACE = '\\n\\x0B\\f\\r\\x85\\u2028\\u2029';
/** Characters JavaScript (u flag) lets a backslash escape outside a class; inside one, `-` too. */
const SYNTAX = new Set('^$\\.*+?()[]{}|/'.split(''));

const hex = (ch: string) => `\\u{${ch.codePointAt(0)!.toString(16)}}`;

export class UntranslatableRegex extends Error {}

/** The JavaScript source (for the u flag) of a Java regex, and flags it needs. */
export function translateJavaRegex(java: string): { source: string; flags: string } {
  let flags = '';
  let src = java;
  const leading = /^\(\?([imsx]+)\)/.exec(src);
  if (leading) {
    if (leading[1]!.includes('x')) throw new UntranslatableRegex(`comments mode in ${java}`);
    flags = leading[1]!.replace('x', '');
    src = src.slice(leading[0].length);
  }
  let out = '';
  let classDepth = 0; // > 1: a nested class, a union in Java
  let lastWasQuantifier = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const next = src[i + 1];
      if (next === undefined) throw new UntranslatableRegex(`trailing backslash in ${java}`);
      i++;
      lastWasQuantifier = false;
      if (next === 'Q') {
        const end = src.indexOf('\\E', i + 1);
        const literal = end < 0 ? src.slice(i + 1) : src.slice(i + 1, end);
        out += [...literal].map((ch) => (/[A-Za-z0-9 ]/.test(ch) ? ch : hex(ch))).join('');
        i = end < 0 ? src.length : end + 1;
        continue;
      }
      if (next === 'p' || next === 'P') {
        const m = /^\{([^}]+)\}/.exec(src.slice(i + 1));
        const name = m ? m[1]! : src[i + 1]!;
        i += m ? m[0].length : 1;
        const posix = POSIX[name.replace(/^Is/, '')];
        if (posix !== undefined) {
          if (next === 'P') out += classDepth > 0 ? fail(java, 'negated POSIX class inside a class') : `[^${posix}]`;
          else out += classDepth > 0 ? posix : `[${posix}]`;
          continue;
        }
        const prop = PROPERTIES[name] ?? (/^In/.test(name) ? fail(java, `Unicode block ${name}`) : name.replace(/^Is/, ''));
        out += `\\${next}{${prop}}`;
        continue;
      }
      if (next === 'x' && src[i + 1] === '{') {
        const end = src.indexOf('}', i);
        out += `\\u{${src.slice(i + 2, end)}}`;
        i = end;
        continue;
      }
      if (next === 'h') {
        out += classDepth > 0 ? HORIZONTAL_SPACE : `[${HORIZONTAL_SPACE}]`;
        continue;
      }
      if (next === 'v') {
        out += classDepth > 0 ? VERTICAL_SPACE : `[${VERTICAL_SPACE}]`;
        continue;
      }
      if (next === 'A' && classDepth === 0) {
        out += '^';
        continue;
      }
      if ((next === 'z' || next === 'Z') && classDepth === 0) {
        out += '$';
        continue;
      }
      if (next === 'e') {
        out += '\\x1B';
        continue;
      }
      if (next === 'a') {
        out += '\\x07';
        continue;
      }
      if (next === 'R' || next === 'G' || next === 'X') throw new UntranslatableRegex(`\\${next} in ${java}`);
      if (/[A-Za-z0-9]/.test(next)) {
        out += `\\${next}`; // \d \w \s \b \n \t \uXXXX \cX \1 ...: the same in JavaScript
        continue;
      }
      // Java lets a backslash escape any other character; JavaScript's u flag only syntax characters.
      out += SYNTAX.has(next) || (next === '-' && classDepth > 0) ? `\\${next}` : hex(next);
      continue;
    }
    if (classDepth > 0) {
      if (c === '[') {
        if (src[i + 1] === '^') throw new UntranslatableRegex(`negated nested class in ${java}`);
        classDepth++; // a union: its members join the outer class
        continue;
      }
      if (c === '&' && src[i + 1] === '&') throw new UntranslatableRegex(`class intersection in ${java}`);
      if (c === ']') {
        classDepth--;
        if (classDepth === 0) out += ']';
        continue;
      }
      out += c;
      continue;
    }
    if (c === '[') {
      classDepth = 1;
      out += '[';
      if (src[i + 1] === '^') {
        out += '^';
        i++;
      }
      lastWasQuantifier = false;
      continue;
    }
    if (c === '+' && lastWasQuantifier) {
      lastWasQuantifier = false; // possessive: no backtracking, the same matches for a whole-value test
      continue;
    }
    if (c === '(' && src.startsWith('(?>', i)) {
      out += '(?:'; // atomic group, likewise
      i += 2;
      lastWasQuantifier = false;
      continue;
    }
    if (c === '{' && !/^\{\d+(,\d*)?\}/.test(src.slice(i))) {
      out += '\\{'; // Java treats a brace that opens no quantifier as a literal
      lastWasQuantifier = false;
      continue;
    }
    if (c === '}' && !/\{\d+(,\d*)?$/.test(out)) {
      out += '\\}';
      lastWasQuantifier = false;
      continue;
    }
    out += c;
    lastWasQuantifier = c === '*' || c === '+' || c === '?' || c === '}';
    // `a+?` is lazy, not a quantifier followed by a possessive mark.
    if (c === '?' && /[*+?}]$/.test(out.slice(0, -1)) && !out.endsWith('\\?')) lastWasQuantifier = false;
  }
  if (classDepth > 0) throw new UntranslatableRegex(`unclosed class in ${java}`);
  return { source: out, flags };
}

function fail(java: string, what: string): never {
  throw new UntranslatableRegex(`${what} in ${java}`);
}

const compiled = new Map<string, RegExp | UntranslatableRegex>();

/** A RegExp that tests whether a whole value matches the Java pattern; cached. */
export function javaPattern(java: string): RegExp {
  let re = compiled.get(java);
  if (re === undefined) {
    try {
      const { source, flags } = translateJavaRegex(java);
      re = new RegExp(`^(?:${source})$`, `u${flags}`);
    } catch (error) {
      re = error instanceof UntranslatableRegex ? error : new UntranslatableRegex(`${java}: ${(error as Error).message}`);
    }
    compiled.set(java, re);
  }
  if (re instanceof UntranslatableRegex) throw re;
  return re;
}
