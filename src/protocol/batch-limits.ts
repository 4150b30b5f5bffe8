/**
 * The limits of the batch actions (batchencrypt, batchdecrypt, batchreencrypt,
 * batchgeneratedatakey), declared once: the server enforces them, the CLI splits its
 * `--batch` files by them.
 */

/** Items in one batch request at most. */
export const MAX_BATCH_ITEMS = 1000;

/** The body limit of the batch actions: 1,000 items of about 1 KiB (every other action takes 64 KiB). */
export const BATCH_BODY_BYTES = 1024 * 1024;
