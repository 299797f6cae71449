/** Express 4, installed as `express4` so the router is tested on both majors (test/express4-router.test.ts). */
declare module 'express4' {
  import express from 'express';
  export default express;
}
