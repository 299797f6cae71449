/** Options of `SqliteStorage`. */
export interface SqliteStorageOptions {
  /** Database file path, or `':memory:'` for a private in-memory database. */
  readonly path: string;
  /**
   * Step outputs whose JSON is larger than this many bytes are stored once in `blobs` (by sha256).
   * @default 262144
   */
  readonly largeOutputBytes?: number;
}
