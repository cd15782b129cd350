/**
 * ``%%grok`` cells are edited as prose: Markdown highlighting (the mode Markdown cells use) and soft
 * wrap, switching as soon as the first line becomes or stops being the cell magic. The mime type is
 * the cell's local editor state: nothing is saved in the notebook or shared with collaborators.
 */
import { Cell } from '@jupyterlab/cells';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { NotebookPanel } from '@jupyterlab/notebook';

import { isGrokCell } from './logic';

const PROSE_CLASS = 'grok-prose-cell';

function markdownMime(languages: IEditorLanguageRegistry): string {
  const language = languages.findByMIME('text/x-ipythongfm') ?? languages.findBest('markdown');
  const mime = language?.mime ?? 'text/x-ipythongfm';
  return Array.isArray(mime) ? mime[0] : (mime as string);
}

export function proseCells(languages: IEditorLanguageRegistry): (panel: NotebookPanel, cell: Cell) => void {
  const prose = markdownMime(languages);
  return (panel, cell) => {
    if (cell.model.type !== 'code') {
      return;
    }
    const codeWrap = (): boolean => !!panel.content.editorConfig?.code?.lineWrap;
    const goal = (): string => (cell.hasClass(PROSE_CLASS) ? prose : panel.content.codeMimetype);
    // The editor loads a language asynchronously for each mime change; two loads in flight can finish in
    // either order (a cached Python after Markdown leaves Python). So the cell's mime is set only once the
    // language it has now has loaded, and after the editor applied it.
    const steer = (): void => {
      const now = cell.model.mimeType;
      if (now === goal()) {
        return;
      }
      void languages.getLanguage(now).catch(() => null).then(() => window.setTimeout(() => {
        if (!cell.isDisposed && cell.model.mimeType !== goal()) {
          cell.model.mimeType = goal();
        }
      }, 0));
    };
    const update = (): void => {
      if (cell.isDisposed) {
        return;
      }
      const grok = isGrokCell(cell.model.sharedModel.getSource());
      if (grok !== cell.hasClass(PROSE_CLASS)) {
        cell.toggleClass(PROSE_CLASS, grok);
        // not from inside the editor's own update (typing): CodeMirror refuses nested updates
        window.setTimeout(() => !cell.isDisposed && cell.updateEditorConfig({ lineWrap: grok || codeWrap() }), 0);
      }
      steer();
    };
    cell.model.contentChanged.connect(update);
    // the notebook re-applies the kernel's language (kernel start, change, restart): the prompt stays prose
    cell.model.mimeTypeChanged.connect(steer);
    update();
  };
}
