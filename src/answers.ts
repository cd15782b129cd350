/**
 * Answers rendered with their actions, in trusted and untrusted notebooks alike: the answer is the
 * frontend's own Markdown rendering, and the buttons are page elements added after it (never output
 * HTML, so nothing is sanitised away and the output carries no script). Answers are recognised by their
 * output metadata (``grok_magics``); every other Markdown (cells, other outputs) renders as before.
 */
import { Clipboard } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMime, RenderedMarkdown } from '@jupyterlab/rendermime';

import { insertBelow, locate, rerun } from './cells';
import { AnswerInfo, answerInfo, continueCell, insertable, normalLanguage } from './logic';

function flash(button: HTMLButtonElement, text: string): void {
  const label = button.textContent;
  button.textContent = text;
  window.setTimeout(() => (button.textContent = label), 1200);
}

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    Clipboard.copyToSystem(text); // the frontend's own fallback (a copy event)
    return true;
  }
}

function makeButton(label: string, title: string, done: string, act: () => Promise<boolean>): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = label;
  b.title = title;
  b.addEventListener('click', event => {
    event.preventDefault();
    event.stopPropagation();
    act().then(ok => flash(b, ok ? done : 'Failed'), () => flash(b, 'Failed'));
  });
  return b;
}

/** The language a rendered code block was fenced with (the renderer keeps it as a class). */
function languageOf(pre: HTMLElement): string {
  const code = pre.querySelector('code');
  for (const name of [...(code?.classList ?? []), ...pre.classList]) {
    const match = /^(?:language|lang|cm-s)-(.+)$/.exec(name);
    if (match && match[1] !== 'jupyter') {
      return normalLanguage(match[1]);
    }
  }
  return normalLanguage(code?.getAttribute('data-language') || pre.getAttribute('data-language') || '');
}

export class AnswerMarkdown extends RenderedMarkdown {
  constructor(options: IRenderMime.IRendererOptions, private tracker: INotebookTracker) {
    super(options);
  }

  async render(model: IRenderMime.IMimeModel): Promise<void> {
    await super.render(model);
    const info = answerInfo(model.metadata);
    if (!info) {
      return;
    }
    this.addClass('grok-answer');
    this.node.querySelectorAll('pre').forEach(pre => this.codeTools(pre as HTMLElement));
    if (info.final) {
      // on the status line's own line: the end of the stream must not make the answer jump
      const status = this.node.querySelector('.grok-status');
      (status?.parentElement ?? this.node).appendChild(this.footer(info));
    }
  }

  private codeTools(pre: HTMLElement): void {
    if (pre.classList.contains('grok-pre') || !pre.querySelector('code')) {
      return;
    }
    pre.classList.add('grok-pre');
    const text = (): string => (pre.querySelector('code') || pre).textContent!.replace(/\n$/, '');
    const language = languageOf(pre);
    const bar = document.createElement('div');
    bar.className = 'grok-tools';
    const label = document.createElement('span');
    label.className = 'grok-lang';
    label.textContent = language || 'text';
    bar.appendChild(label);
    bar.appendChild(makeButton('Copy', 'Copy this code', 'Copied', () => copy(text())));
    if (insertable(language, text(), !!pre.closest('details'))) {
      bar.appendChild(makeButton('Insert', 'Insert as a new cell below (not run)', 'Inserted', async () => {
        const where = locate(this.tracker, this.node);
        if (!where) {
          return false;
        }
        await insertBelow(where.panel, where.index, text(), false);
        return true;
      }));
    }
    pre.appendChild(bar);
  }

  private footer(info: AnswerInfo): HTMLElement {
    const bar = document.createElement('span');
    bar.className = 'grok-answer-actions';
    if (info.chat !== 'default') {
      const chat = document.createElement('span');
      chat.className = 'grok-chat';
      chat.textContent = `chat: ${info.chat}`;
      chat.title = 'This answer belongs to this named conversation (--chat)';
      bar.appendChild(chat);
    }
    bar.appendChild(makeButton('Retry', 'Run the asking cell again (its earlier exchange is replaced)', 'Retrying',
      async () => {
        const where = locate(this.tracker, this.node);
        if (!where) {
          return false;
        }
        await rerun(where.panel, where.index);
        return true;
      }));
    bar.appendChild(makeButton('Continue', `A new %%grok cell below, in chat '${info.chat}'`, 'Added', async () => {
      const where = locate(this.tracker, this.node);
      if (!where) {
        return false;
      }
      const cell = await insertBelow(where.panel, where.index, continueCell(info.chat), false);
      where.panel.content.mode = 'edit';
      cell.editor?.focus();
      cell.editor?.setCursorPosition(cell.editor.getPositionAt(cell.model.sharedModel.getSource().length)!);
      return true;
    }));
    return bar;
  }
}
