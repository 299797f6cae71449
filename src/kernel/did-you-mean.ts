/**
 * "Did you mean ...?": the closest known name to a word that matched none, for error messages
 * about typos (an unknown key, node id, provider). Close means a small edit distance, counting a
 * swap of two neighbouring letters as one edit, so `clasify`, `urgnt` and `max_attemps` each find
 * their name, while a word far from every candidate gets no suggestion rather than a wrong one.
 */

/** Edits between `a` and `b` (insert, delete, replace, or swap two neighbours), giving up past `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  // Three rows of the optimal-string-alignment table: two back for the swap.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current[j] = d;
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin > limit) return limit + 1;
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length]!;
}

/**
 * The candidate closest to `word`, when it is close enough to be a likely typo: at most one edit
 * per three characters of `word`, and at least one (a differently cased spelling always
 * qualifies). Undefined when `word` is itself a candidate or nothing is close.
 *
 * @example
 * didYouMean('clasify', ['classify', 'route']); // 'classify'
 * didYouMean('max_attemps', ['max_attempts', 'delay_ms']); // 'max_attempts'
 * didYouMean('zebra', ['classify']); // undefined
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  const folded = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (candidate === word) return undefined;
    // A case slip is the likeliest typo of all: it wins over any real edit.
    const distance = candidate.toLowerCase() === folded ? 0.5 : editDistance(word, candidate, limit);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
