// Reads every page of a paged `/api/v1` list (the API clamps a page to 100 items), a few
// pages at a time, reporting how many items have arrived so the screen shows a number.
export const PAGE_LIMIT = 100;
const PARALLEL = 4;

export interface Page<T> {
  items: T[];
  total: number;
}

export async function fetchAll<T>(
  getPage: (page: number) => Promise<Page<T>>,
  onProgress?: (loaded: number, total: number) => void,
  isCancelled: () => boolean = () => false,
): Promise<{ items: T[]; total: number }> {
  const first = await getPage(1);
  const pages = Math.max(1, Math.ceil(first.total / PAGE_LIMIT));
  const parts: T[][] = new Array<T[]>(pages).fill([]);
  parts[0] = first.items;
  let loaded = first.items.length;
  onProgress?.(loaded, first.total);
  let next = 2;
  async function worker(): Promise<void> {
    while (next <= pages && !isCancelled()) {
      const page = next++;
      const got = await getPage(page);
      parts[page - 1] = got.items;
      loaded += got.items.length;
      onProgress?.(loaded, first.total);
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, pages - 1) }, worker));
  // Rows that moved between pages while reading (one added or deleted) appear once.
  const seen = new Set<unknown>();
  const items = parts.flat().filter((item) => {
    const id = (item as { id?: unknown; name?: unknown }).id ?? (item as { name?: unknown }).name ?? item;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  return { items, total: first.total };
}
