/**
 * `T` with its fields writable: for a record built field by field on a hot path (a literal with
 * conditional spreads costs throwaway objects), then handed out as the readonly type.
 */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
