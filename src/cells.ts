/**
 * Reaching every cell of every notebook, now and later (cells are added, moved, re-created when a
 * notebook's model is replaced), and the few notebook edits the actions make.
 */
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

export type CellHook = (panel: NotebookPanel, cell: Cell) => void;

/** Call ``hook`` once for each cell widget of each notebook, as soon as the cell is ready. */
export function everyCell(tracker: INotebookTracker, hook: CellHook): void {
  const seen = new WeakSet<Cell>();
  const scan = (panel: NotebookPanel): void => {
    for (const cell of panel.content.widgets) {
      if (!seen.has(cell)) {
        seen.add(cell);
        void cell.ready.then(() => {
          if (!cell.isDisposed) {
            hook(panel, cell);
          }
        });
      }
    }
  };
  const watch = (panel: NotebookPanel): void => {
    const later = (): void => void window.setTimeout(() => scan(panel), 0); // after the notebook made its widgets
    const connectModel = (): void => {
      panel.content.model?.cells.changed.connect(later);
      later();
    };
    panel.content.modelChanged.connect(connectModel);
    connectModel();
  };
  tracker.forEach(watch);
  tracker.widgetAdded.connect((_, panel) => watch(panel));
}

/** The notebook and cell an element of the page belongs to (an output's button, say). */
export function locate(tracker: INotebookTracker, node: HTMLElement): { panel: NotebookPanel; index: number } | null {
  let found: { panel: NotebookPanel; index: number } | null = null;
  tracker.forEach(panel => {
    if (found || !panel.node.contains(node)) {
      return;
    }
    const index = panel.content.widgets.findIndex(cell => cell.node.contains(node));
    if (index >= 0) {
      found = { panel, index };
    }
  });
  return found;
}

/** A new code cell below cell ``index``, made active; run it when ``run`` (the notebook keeps a record). */
export async function insertBelow(panel: NotebookPanel, index: number, source: string, run: boolean): Promise<Cell> {
  const notebook = panel.content;
  const model = notebook.model;
  if (!model) {
    throw new Error('the notebook has no model');
  }
  model.sharedModel.insertCell(index + 1, { cell_type: 'code', source, metadata: {} });
  notebook.deselectAll();
  notebook.activeCellIndex = index + 1;
  const cell = notebook.widgets[index + 1];
  if (run) {
    await NotebookActions.run(notebook, panel.sessionContext);
  }
  return cell;
}

/** Run cell ``index`` again, as Shift+Enter on it would (without moving on). */
export async function rerun(panel: NotebookPanel, index: number): Promise<void> {
  const notebook = panel.content;
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  await NotebookActions.run(notebook, panel.sessionContext);
}
