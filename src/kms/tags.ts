import { LimitExceededException, TagException } from '../errors.js';
import type { Tag } from '../store/records.js';

export const MAX_TAGS = 50;

/** Checks tags as AWS KMS does: key 1..128 characters, value 0..256. */
export function validateTags(tags: Tag[]): void {
  for (const tag of tags) {
    if (tag.TagKey.length < 1 || tag.TagKey.length > 128) throw new TagException('A TagKey must be 1 to 128 characters');
    if (tag.TagValue.length > 256) throw new TagException('A TagValue must be at most 256 characters');
  }
}

/** Adds or replaces tags (the same TagKey replaces its value); at most 50 in all. */
export function mergeTags(existing: Tag[], added: Tag[]): Tag[] {
  validateTags(added);
  const merged = new Map(existing.map((tag) => [tag.TagKey, tag]));
  for (const tag of added) merged.set(tag.TagKey, { TagKey: tag.TagKey, TagValue: tag.TagValue });
  if (merged.size > MAX_TAGS) throw new LimitExceededException(`A key can have at most ${MAX_TAGS} tags`);
  return [...merged.values()];
}
