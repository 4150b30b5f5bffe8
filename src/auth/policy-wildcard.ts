/**
 * `*` / `?` wildcard matching for policy patterns, without RegExp: a pattern from a policy
 * never becomes a regular expression, so no pattern can make matching backtrack
 * exponentially. The matcher is the classic greedy loop with one backtrack point (the last
 * `*`): at most (pattern length + 1) × (text length + 1) steps.
 */

/** Longest pattern a policy may hold (after runs of `*` are collapsed). */
export const MAX_PATTERN_LENGTH = 1024;

export interface WildcardPattern {
  /** The pattern with each run of `*` collapsed to one. */
  readonly text: string;
  /** Whether `text` holds `*` or `?`; without, matching is string equality. */
  readonly hasWildcard: boolean;
}

/** Collapses runs of `*` (`a**b` matches exactly what `a*b` matches, with fewer steps). */
export function compileWildcard(pattern: string): WildcardPattern {
  let text = '';
  for (let index = 0; index < pattern.length; index++) {
    const character = pattern[index];
    if (character === '*' && text.endsWith('*')) continue;
    text += character;
  }
  return Object.freeze({ text, hasWildcard: text.includes('*') || text.includes('?') });
}

let stepsOfLastMatch = 0;

/** Loop turns of the last wildcardMatches call: the bounded-work tests read it. */
export function lastMatchSteps(): number {
  return stepsOfLastMatch;
}

/**
 * Whether `text` matches `pattern`, case-sensitively. `*` matches any run of characters (also
 * none), `?` exactly one character (a surrogate pair counts as one).
 *
 * @example
 *   wildcardMatches(compileWildcard('alias/orders-*'), 'alias/orders-eu'); // true
 */
export function wildcardMatches(pattern: WildcardPattern, text: string): boolean {
  if (!pattern.hasWildcard) {
    stepsOfLastMatch = 1;
    return pattern.text === text;
  }
  const glob = pattern.text;
  let patternIndex = 0;
  let textIndex = 0;
  let starIndex = -1; // the last `*` seen, where a mismatch resumes
  let starTextIndex = 0; // where the text stood when that `*` began to match
  let steps = 0;
  while (textIndex < text.length) {
    steps++;
    const patternCode = patternIndex < glob.length ? glob.charCodeAt(patternIndex) : -1;
    if (patternCode === 63 /* ? */) {
      textIndex += characterLength(text, textIndex);
      patternIndex++;
    } else if (patternCode === 42 /* * */) {
      starIndex = patternIndex++;
      starTextIndex = textIndex;
    } else if (patternCode !== -1 && patternCode === text.charCodeAt(textIndex)) {
      textIndex++;
      patternIndex++;
    } else if (starIndex >= 0) {
      // Let the last `*` take one more character and try the rest of the pattern again.
      patternIndex = starIndex + 1;
      textIndex = ++starTextIndex;
    } else {
      stepsOfLastMatch = steps;
      return false;
    }
  }
  while (patternIndex < glob.length && glob.charCodeAt(patternIndex) === 42) patternIndex++;
  stepsOfLastMatch = steps;
  return patternIndex === glob.length;
}

/** 2 for a surrogate pair (one character outside the BMP), else 1. */
function characterLength(text: string, index: number): number {
  const code = text.charCodeAt(index);
  if (code < 0xd800 || code > 0xdbff || index + 1 >= text.length) return 1;
  const next = text.charCodeAt(index + 1);
  return next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
}
