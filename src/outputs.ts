/**
 * Actions on a cell's outputs: "Ask Grok" on an error adds a ``%%grok fix`` cell below and runs it;
 * "Ask about this" on any other output adds a ``%%grok --output ID:N`` cell that the kernel answers
 * with that output attached. Both are cells, so the notebook keeps a faithful record of what was asked.
 * Also hides the carrier output of the script answers ship (it has nothing to show here).
 */
import { Cell, CodeCell } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';

import { insertBelow, locate } from './cells';
import { aboutCell, answerInfo, asksGrok, fixCell } from './logic';

const BAR = 'grok-output-actions';

type Kind = 'error' | 'other' | 'answer' | 'carrier' | 'empty';

function kindOf(output: nbformat.IOutput): Kind {
  if (output.output_type === 'error') {
    return 'error';
  }
  if (answerInfo(output.metadata)) {
    return 'answer';
  }
  const data = ((output as nbformat.IDisplayData).data || {}) as Record<string, unknown>;
  const html = data['text/html'];
  const htmlText = Array.isArray(html) ? html.join('') : html;
  if (typeof htmlText === 'string' && htmlText.startsWith('<script>') && htmlText.includes('grok-magics front end')) {
    return 'carrier';
  }
  if (output.output_type === 'stream') {
    const text = (output as nbformat.IStream).text;
    return (Array.isArray(text) ? text.join('') : text).trim() ? 'other' : 'empty';
  }
  return Object.keys(data).length ? 'other' : 'empty';
}

function button(label: string, title: string, act: () => Promise<unknown>): HTMLButtonElement {
  const b = document.createElement('button');
  b.className = 'grok-action';
  b.textContent = label;
  b.title = title;
  b.addEventListener('click', event => {
    event.preventDefault();
    event.stopPropagation();
    b.disabled = true;
    act().catch(error => console.error('grok-magics:', error)).finally(() => (b.disabled = false));
  });
  return b;
}

export function outputActions(tracker: INotebookTracker): (panel: NotebookPanel, cell: Cell) => void {
  const ask = (node: HTMLElement, source: (cellId: string) => string): Promise<unknown> => {
    const where = locate(tracker, node);
    if (!where) {
      return Promise.resolve();
    }
    const cellId = where.panel.content.widgets[where.index].model.id;
    return insertBelow(where.panel, where.index, source(cellId), true);
  };

  return (_panel, cell) => {
    if (cell.model.type !== 'code') {
      return;
    }
    const code = cell as CodeCell;
    const decorate = (): void => {
      if (code.isDisposed || !code.outputArea) {
        return;
      }
      const area = code.outputArea;
      const grokCell = asksGrok(code.model.sharedModel.getSource());
      if (grokCell && area.maxNumberOutputs !== Infinity) {
        // an answer streams as one output per finished block: the notebook's output limit (50) would hide
        // a long answer's end, its live edge and its status line behind "Show more outputs"
        try {
          area.maxNumberOutputs = Infinity;
        } catch {
          // JupyterLab's setter takes the limit, then disposes the "Show more outputs" line, which exists only
          // when there are more outputs than the limit: with fewer it throws (and stopped this loop)
        }
      }
      for (let i = 0; i < area.model.length && i < area.widgets.length; i++) {
        const child = area.widgets[i].node;
        const kind = kindOf(area.model.get(i).toJSON() as nbformat.IOutput);
        child.classList.toggle('grok-carrier', kind === 'carrier');
        const wanted = grokCell || kind === 'answer' || kind === 'carrier' || kind === 'empty' ? '' : kind;
        const old = child.querySelector(`:scope > .${BAR}`);
        if (old && old.getAttribute('data-kind') === wanted) {
          continue;
        }
        old?.remove();
        if (!wanted) {
          continue;
        }
        const bar = document.createElement('div');
        bar.className = BAR;
        bar.setAttribute('data-kind', wanted);
        const index = i;
        bar.appendChild(wanted === 'error'
          ? button('Ask Grok', 'Ask Grok about this error: adds a %%grok fix cell below and runs it',
            () => ask(child, () => fixCell()))
          : button('Ask about this', 'Ask Grok about this output: adds a %%grok cell below that attaches it, and runs it',
            () => ask(child, cellId => aboutCell(cellId, index))));
        child.appendChild(bar);
      }
    };
    const later = (): void => void window.setTimeout(decorate, 0); // after the output area made its widgets
    code.outputArea.model.changed.connect(later);
    code.model.contentChanged.connect(later);
    // a notebook opened from disk may draw a cell's outputs after its model settled (no model change then)
    new MutationObserver(later).observe(code.outputArea.node, { childList: true });
    later();
  };
}
