/**
 * Cuts `text` to at most `max` UTF-16 code units (the unit string lengths and the
 * BakeRequested schema count in) without splitting a surrogate pair: a lone
 * surrogate makes the SDK refuse to send the request at all.
 */
export function truncate(text: string, max: number, ellipsis = ''): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - ellipsis.length);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut + ellipsis;
}
