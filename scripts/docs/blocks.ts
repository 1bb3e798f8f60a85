/**
 * Generated blocks inside hand-written Markdown: `<!-- generated:NAME ... -->` up to
 * `<!-- /generated:NAME -->`. `npm run docs` rewrites what is between; the docs test fails
 * when a block differs from what its source gives now.
 */
const start = (name: string) => new RegExp(`<!-- generated:${name}\\b[^>]*-->`);
const end = (name: string) => `<!-- /generated:${name} -->`;

function bounds(text: string, name: string): { from: number; to: number } {
  const open = start(name).exec(text);
  const to = text.indexOf(end(name));
  if (!open || to < open.index) throw new Error(`no generated block "${name}" (<!-- generated:${name} ... --> ... ${end(name)})`);
  return { from: open.index + open[0].length, to };
}

/** The block's current content. */
export function blockIn(text: string, name: string): string {
  const { from, to } = bounds(text, name);
  return text.slice(from, to).trim();
}

/** The text with the block's content replaced. */
export function withBlock(text: string, name: string, content: string): string {
  const { from, to } = bounds(text, name);
  return `${text.slice(0, from)}\n${content}\n${text.slice(to)}`;
}
