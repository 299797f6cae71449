/**
 * Optional packages (src/kernel/optional-packages.ts): a missing one is named, with its `npm i`
 * command, when the feature that needs it is built. The packages themselves are installed here
 * (dev dependencies); .ci/consumers checks the same errors in a project without them.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MissingPackageError, OllamaProvider, OpenAIProvider, AnthropicProvider, PostgresStorage, SqliteStorage, isTrellisError } from '../src/index.js';
import { BUNDLED, assertInstalled, missingPackageOr } from '../src/kernel/optional-packages.js';

describe('optional packages', () => {
  it('assertInstalled names the package and the command to install it', () => {
    let thrown: unknown;
    try {
      assertInstalled('trellis-not-a-real-package', 'The frobnicator');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MissingPackageError);
    expect(isTrellisError(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: 'missing_package', retryable: false, packageName: 'trellis-not-a-real-package', installCommand: 'npm i trellis-not-a-real-package' });
    expect((thrown as Error).message).toBe('The frobnicator needs the package "trellis-not-a-real-package", which is not installed: run `npm i trellis-not-a-real-package`');
  });

  it('passes for installed packages, and the providers and storages that need them construct', () => {
    for (const name of ['better-sqlite3', 'pg', 'openai', '@anthropic-ai/sdk', 'ollama']) expect(() => assertInstalled(name, 'x')).not.toThrow();
    expect(() => [new OpenAIProvider(), new AnthropicProvider(), new OllamaProvider(), new SqliteStorage(':memory:'), new PostgresStorage({ connectionString: 'postgres://127.0.0.1/none' })]).not.toThrow();
  });

  it('turns a failed import of a missing package into MissingPackageError, and leaves other errors alone', () => {
    // The error Node gives (vitest's own module loader words it differently), rebuilt from a child.
    const script = "import('trellis-not-a-real-package').catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })))";
    const { code, message } = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { code: string; message: string };
    const failed = Object.assign(new Error(message), { code });
    const mapped = missingPackageOr(failed, 'trellis-not-a-real-package', 'The frobnicator');
    expect(mapped).toBeInstanceOf(MissingPackageError);
    expect((mapped as MissingPackageError).cause).toBe(failed);
    const other = new Error('boom');
    expect(missingPackageOr(other, 'trellis-not-a-real-package', 'x')).toBe(other);
    // A missing package that is not the one asked for (a broken install of its dependency) is not renamed.
    expect(missingPackageOr(failed, 'another-package', 'x')).toBe(failed);
  });

  it('knows it is not running from a bundle', () => {
    expect(BUNDLED).toBe(false);
  });
});
