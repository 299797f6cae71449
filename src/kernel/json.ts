/** A JSON value: what a definition, a run's input and output, and every stored field hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
