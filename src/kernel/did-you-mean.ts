/**
 * "Did you mean" hints for a mistyped name: an unknown option, config key or input key is most
 * often a typo of a known one (`tols` for `tools`, `max_attemps` for `max_attempts`), and naming the
 * likely one saves a trip to the docs.
 */

/**
 * The candidate closest to `word`, when it is close enough to be a likely typo: at most a third of
 * the longer name's characters differ (insertions, deletions, substitutions, swaps of neighbours),
 * and at least one. Case is ignored; ties go to the first candidate.
 *
 * @example
 * didYouMean('tols', ['tools', 'template']); // 'tools'
 * didYouMean('colour', ['tools']); // undefined
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const distance = editDistance(lower, candidate.toLowerCase());
    const allowed = Math.max(1, Math.floor(Math.max(word.length, candidate.length) / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance: Levenshtein plus the swap of two neighbouring characters. */
function editDistance(a: string, b: string): number {
  // Three rows suffice: the swap looks two rows back.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}
