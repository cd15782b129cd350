/**
 * The decisions the page makes, kept free of JupyterLab imports so node's test runner can check them:
 * which cells are prose, which code blocks may become cells, what an answer's metadata says, and the
 * cells the actions insert.
 */

export const COMM_TARGET = 'grok_magics';
export const PROTOCOL_VERSION = 1;

/** Sizes the page never exceeds in one message to the kernel (the kernel checks its own side too). */
export const LIMITS = {
  cells: 200, // cells above a cell, nearest first
  source: 20_000, // characters of one cell's source
  text: 20_000, // characters of one output's text, when that output is asked about
  summary: 4_000, // characters of an output's text in the cells-above summary
  image: 8_000_000, // characters of one base64 image
  message: 12_000_000 // characters of one JSON message
};

/**
 * The line IPython reads a cell magic from: leading blank lines and the first line's indentation are
 * dropped by IPython's cleanup transforms before it looks for ``%%``.
 */
export function magicLine(source: string): string {
  const lines = source.split('\n');
  const first = lines.find(line => line.trim() !== '');
  return first === undefined ? '' : first.trim();
}

/** A code cell whose first line is the ``%%grok`` cell magic: its body is a prompt, edited as prose. */
export function isGrokCell(source: string): boolean {
  return /^%%grok(?=\s|$)/.test(magicLine(source));
}

/** A cell that talks to Grok at all: the cell magic, or a ``%grok`` line magic on any line. */
export function asksGrok(source: string): boolean {
  return isGrokCell(source) || /^\s*%grok(?=\s|$)/m.test(source);
}

const ALIASES: Record<string, string> = {
  py: 'python',
  python3: 'python',
  ipython: 'python',
  ipython3: 'python',
  sh: 'bash',
  shell: 'bash',
  zsh: 'bash',
  js: 'javascript',
  ts: 'typescript',
  'c++': 'cpp',
  rs: 'rust',
  golang: 'go',
  rb: 'ruby',
  kt: 'kotlin',
  psql: 'sql',
  postgresql: 'sql',
  yml: 'yaml'
};

/** Programming languages whose blocks are offered as a new cell; data and markup never are. */
const PROGRAMMING = new Set([
  'python', 'sql', 'bash', 'r', 'julia', 'javascript', 'typescript', 'java', 'c', 'cpp', 'csharp', 'go',
  'rust', 'ruby', 'scala', 'kotlin', 'swift', 'php', 'perl', 'lua', 'matlab', 'octave', 'haskell', 'fortran',
  'powershell', 'dart', 'elixir', 'clojure', 'ocaml', 'fsharp', 'sas', 'stata', 'latex'
]);

/** The fence's language as a label: lower case, aliases folded (``py`` → ``python``); "" for none. */
export function normalLanguage(info: string): string {
  const word = (info || '').trim().split(/\s+/)[0].toLowerCase().replace(/^language-/, '');
  return ALIASES[word] ?? word;
}

export function isProgrammingLanguage(info: string): boolean {
  return PROGRAMMING.has(normalLanguage(info));
}

function looksLikeJson(text: string): boolean {
  const trimmed = text.trim();
  if (!/^[[{]/.test(trimmed)) {
    return false;
  }
  try {
    JSON.parse(trimmed);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a code block of an answer gets an Insert button: a programming language's block, or an
 * unlabelled one that is not JSON; never inside a tool call's collapsed arguments and result.
 */
export function insertable(info: string, text: string, inToolCall: boolean): boolean {
  if (inToolCall || !text.trim()) {
    return false;
  }
  const language = normalLanguage(info);
  return language ? PROGRAMMING.has(language) : !looksLikeJson(text);
}

/** What an output's ``grok_magics`` metadata says about it; null for outputs that are not answers. */
export interface AnswerInfo {
  chat: string;
  final: boolean; // the finished answer (it carries the provenance); false for a block shown while streaming
  failed: boolean;
}

export function answerInfo(metadata: unknown): AnswerInfo | null {
  if (!metadata || typeof metadata !== 'object') {
    return null;
  }
  const final = (metadata as Record<string, unknown>)['grok_magics']; // the finished answer's provenance
  const part = (metadata as Record<string, unknown>)['grok_magics_part']; // a block shown while streaming
  const own = final && typeof final === 'object' ? final : part && typeof part === 'object' ? part : null;
  if (!own) {
    return null;
  }
  const info = own as Record<string, unknown>;
  const chat = typeof info['chat'] === 'string' && info['chat'] ? (info['chat'] as string) : 'default';
  return { chat, final: own === final, failed: own === final && info['failed'] === true };
}

/** A value for the magic line: as it is when shell-safe, quoted otherwise. */
export function shellWord(text: string): string {
  return /^[\w.:/@+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'"'"'`)}'`;
}

/** The cell "Ask Grok" adds under a failing cell (a cell magic needs a body: IPython refuses an empty one). */
export function fixCell(): string {
  return '%%grok fix\nWhat went wrong here, and how do I fix it?';
}

/** The cell "Ask about this" adds: the kernel attaches output ``index`` of cell ``cellId`` itself. */
export function aboutCell(cellId: string, index: number): string {
  return `%%grok --output ${shellWord(`${cellId}:${index}`)}\nWhat does this output show?`;
}

/** The cell "Continue" adds below an answer, in the answer's chat (left for the user to write). */
export function continueCell(chat: string): string {
  return chat === 'default' ? '%%grok\n' : `%%grok --chat ${shellWord(chat)}\n`;
}

/** The output references (``--output ID:N``) a cell's magic line names, for the context pushed before it runs. */
export function outputRefs(source: string): Array<{ cellId: string; index: number }> {
  const refs: Array<{ cellId: string; index: number }> = [];
  const line = magicLine(source);
  for (const match of line.matchAll(/--output[=\s]+'?([^\s':]+):(\d+)'?/g)) {
    refs.push({ cellId: match[1], index: Number(match[2]) });
  }
  return refs;
}

/** Whether a cell's magic line asks for the images of the cells above (``--context above,images``). */
export function wantsImages(source: string): boolean {
  return /--context[=\s]+'?above(:\d+)?,images/.test(magicLine(source));
}

/** ``text`` cut to ``limit`` characters, saying so at the cut. */
export function bounded(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}\n… (${text.length - limit} more characters not sent)`;
}

/** Whether a newer protocol's message can be read: same major version only. */
export function speaksVersion(message: unknown): boolean {
  return !!message && typeof message === 'object' && (message as Record<string, unknown>)['v'] === PROTOCOL_VERSION;
}

// -- the chat panel (src/panel.ts): what the kernel sends for ``panel``, and its lines

export interface PanelTurn {
  prompt: string;
  answer: string;
}

export interface PanelChat {
  name: string;
  turns: PanelTurn[];
  tokens: number;
  cost: number;
  calls: number;
  fork_of: { chat: string; turns: number } | null;
}

export interface PanelState {
  chats: PanelChat[];
  spent: number;
  budget: { cap: number; spent: number; left: number } | null;
}

export function money(dollars: number): string {
  return dollars >= 1 ? `$${dollars.toFixed(2)}` : dollars >= 0.01 ? `$${dollars.toFixed(3)}` : `$${dollars.toFixed(4)}`;
}

/** The one line under a chat's name: turns, tokens, cost, where it branched. */
export function chatLine(chat: PanelChat): string {
  const words = [`${chat.turns.length} turn${chat.turns.length === 1 ? '' : 's'}`, `~${chat.tokens.toLocaleString('en-US')} tokens`,
    money(chat.cost)];
  if (chat.fork_of) {
    words.push(`fork of ${chat.fork_of.chat} at ${chat.fork_of.turns}`);
  }
  return words.join(' · ');
}

export function budgetLine(state: PanelState): string {
  if (!state.budget) {
    return `Spent in this kernel: ${money(state.spent)} (no classroom budget set)`;
  }
  return `Classroom budget: ${money(state.budget.left)} left of ${money(state.budget.cap)}`;
}
