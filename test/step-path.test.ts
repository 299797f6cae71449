import { describe, expect, it } from 'vitest';
import { iterationPrefix, parseIterationPrefix, splitStepPath } from '../src/planner/step-path.js';

/** The definition, as a regular expression: parentPrefix (shortest), a node id, `[digits].`. */
function reference(prefix: string): ReturnType<typeof parseIterationPrefix> {
  const m = /^(.*?)([A-Za-z_][A-Za-z0-9_-]*)\[(\d+)\]\.$/.exec(prefix);
  return m ? { parentPrefix: m[1]!, loopId: m[2]!, index: Number(m[3]) } : undefined;
}

describe('step paths', () => {
  it('parses the innermost iteration of a scope prefix', () => {
    expect(parseIterationPrefix('')).toBeUndefined();
    expect(parseIterationPrefix('review_loop[3].')).toEqual({ parentPrefix: '', loopId: 'review_loop', index: 3 });
    expect(parseIterationPrefix('outer[1].inner-2[10].')).toEqual({ parentPrefix: 'outer[1].', loopId: 'inner-2', index: 10 });
    for (const bad of ['loop[].', 'loop[1]', 'loop[x].', '[1].', '9[1].', 'a.b', 'loop[1]..']) expect(parseIterationPrefix(bad)).toBeUndefined();
  });

  it('reads every prefix exactly as the regular expression that defines it', () => {
    const alphabet = 'ab_Z9-.[]0';
    let seed = 42;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      const length = next(12);
      for (let j = 0; j < length; j++) text += alphabet[next(alphabet.length)];
      // Half the cases end like an iteration, so that the interesting branches are reached.
      if (next(2) === 0) text += `[${next(20)}].`;
      expect(parseIterationPrefix(text), JSON.stringify(text)).toEqual(reference(text));
    }
  });

  it('round-trips what iterationPrefix makes and splits paths at the last dot', () => {
    expect(parseIterationPrefix(iterationPrefix('a[1].', 'each', 7))).toEqual({ parentPrefix: 'a[1].', loopId: 'each', index: 7 });
    expect(splitStepPath('a[1].each[7].work')).toEqual({ prefix: 'a[1].each[7].', nodeId: 'work' });
    expect(splitStepPath('work')).toEqual({ prefix: '', nodeId: 'work' });
  });
});
