/**
 * Issue 20: the wake-ups of a fleet on PostgreSQL. `announceWork` sends a NOTIFY on the schema's
 * channel; `watchWork` listens on a dedicated connection that comes back by itself after its
 * backend is killed; fleets on other schemas do not hear each other.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';

const { schema, pgUrl } = scratch('notify');
const other = scratch('notify_other');
const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
afterAll(() => admin.end());

describe('PostgreSQL work announcements', () => {
  it('reach every watcher of the schema, only of that schema, and survive a killed listening connection', async () => {
    const [sender, listener, stranger] = [new PostgresStorage({ connectionString: pgUrl, schema }), new PostgresStorage({ connectionString: pgUrl, schema }), new PostgresStorage({ connectionString: pgUrl, schema: other.schema })];
    await Promise.all([sender.init(), listener.init(), stranger.init()]);
    const heard: string[] = [];
    const strangerHeard: string[] = [];
    const stop = await listener.watchWork((id) => heard.push(id));
    const stopStranger = await stranger.watchWork((id) => strangerHeard.push(id));
    await sender.announceWork('run_1');
    await until(() => heard.includes('run_1'));

    // Kill the listening backend (the one that ran LISTEN on this schema's channel): it reconnects.
    const channel = `trellis_work:${schema}`;
    const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN "${channel}"`]);
    expect(killed.rowCount).toBe(1);
    await until(async () => {
      await sender.announceWork('run_2');
      return heard.includes('run_2');
    }, 10_000);
    expect(strangerHeard).toEqual([]);

    await stop();
    await stopStranger();
    await Promise.all([sender.close(), listener.close(), stranger.close()]);
    // Nothing is left listening once every watcher stopped.
    const left = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1`, [`LISTEN "${channel}"`]);
    expect(left.rows[0].n).toBe(0);
  });
});
