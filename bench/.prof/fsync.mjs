import { openSync, writeSync, fsyncSync, rmSync } from 'node:fs';
const p = '/tmp/fs.bin'; const fd = openSync(p, 'w'); const buf = Buffer.alloc(4096, 1);
for (let k = 0; k < 5; k++) { for (let i = 0; i < 1000; i++) writeSync(fd, buf, 0, 4096, i * 4096); const t = performance.now(); fsyncSync(fd); console.log('fsync 1000 pages', (performance.now() - t).toFixed(2), 'ms'); }
const t = performance.now(); for (let i = 0; i < 20000; i++) writeSync(fd, buf, 0, 4096, (i % 1000) * 4096); console.log('pwrite', ((performance.now() - t) / 20000 * 1000).toFixed(2), 'µs');
rmSync(p);
