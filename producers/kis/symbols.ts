import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../../lib/logger.js';

export const SYMBOL_PATTERN = /^[0-9A-Z]{6}$/;

/** A symbols file: codes separated by commas, spaces or newlines; `#` starts a comment. */
export function parseSymbolsText(text: string): { symbols: string[]; invalid: string[] } {
  const symbols: string[] = [];
  const invalid: string[] = [];
  const seen = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    for (const item of (line.split('#')[0] ?? '').split(/[\s,]+/)) {
      if (item === '') continue;
      if (!SYMBOL_PATTERN.test(item)) invalid.push(item);
      else if (!seen.has(item)) {
        seen.add(item);
        symbols.push(item);
      }
    }
  }
  return { symbols, invalid };
}

/**
 * The symbols to subscribe: KIS_SYMBOLS (fixed for the life of the process) followed by the contents
 * of KIS_SYMBOLS_FILE, which is checked every `pollMs` so symbols can be added and removed while
 * running. The file's stat is taken when it is read and compared on every check, so a change is
 * never lost between reading and watching; polling rather than fs.watch, because editors and config
 * tools replace files by rename, which inotify watches lose, and a second's delay is nothing here.
 */
export class SymbolSource {
  private fileSymbols: string[] = [];
  private listener: ((symbols: string[]) => void) | null = null;
  private lastProblem = '';
  private readStat = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly fixed: readonly string[],
    private readonly file: string | undefined,
    private readonly pollMs: number,
    private readonly logger: Logger,
  ) {
    if (file) this.fileSymbols = this.read() ?? [];
  }

  current(): string[] {
    const seen = new Set<string>();
    return [...this.fixed, ...this.fileSymbols].filter((s) => (seen.has(s) ? false : (seen.add(s), true)));
  }

  watch(onChange: (symbols: string[]) => void): void {
    if (!this.file) return;
    this.listener = onChange;
    this.timer = setInterval(() => {
      if (this.statKey() !== this.readStat) this.reload();
    }, this.pollMs);
    this.timer.unref();
  }

  /** Re-reads the file now (also what the watcher does on a change). */
  reload(): void {
    const next = this.read();
    if (!next) return;
    const before = this.current();
    this.fileSymbols = next;
    const after = this.current();
    if (before.length === after.length && before.every((s, i) => s === after[i])) return;
    const added = after.filter((s) => !before.includes(s));
    const removed = before.filter((s) => !after.includes(s));
    this.logger.info({ symbols: after.length, added: added.slice(0, 50), removed: removed.slice(0, 50) }, 'symbol list changed');
    this.listener?.(after);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listener = null;
  }

  /** What identifies a version of the file: a rename changes the inode, an edit the mtime or size. */
  private statKey(): string {
    try {
      const st = statSync(this.file as string);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
    }
  }

  private read(): string[] | undefined {
    const file = this.file as string;
    // The stat before the read: a change after it is seen on the next check.
    this.readStat = this.statKey();
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      // A missing file is an empty list (it may be created later); keep the last good list otherwise.
      const code = (err as NodeJS.ErrnoException).code;
      this.problem(`symbols file ${file} cannot be read (${code ?? (err as Error).message})`);
      return code === 'ENOENT' ? [] : undefined;
    }
    const { symbols, invalid } = parseSymbolsText(text);
    if (invalid.length > 0) this.problem(`symbols file ${file}: ignoring ${invalid.length} invalid code(s): ${invalid.slice(0, 10).join(', ')}`);
    else this.lastProblem = '';
    return symbols;
  }

  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.logger.warn(message);
  }
}
