/**
 * grok-magics in the page (JupyterLab ≥ 4.2, Notebook ≥ 7.2): ``%%grok`` cells edited as prose,
 * "Ask Grok" on outputs, Copy/Insert/Retry/Continue on answers without trust, and a comm to the
 * kernel side of the package. Shipped prebuilt inside the Python package.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { agentHandlers, keepAnswer } from './agent';
import { AnswerMarkdown } from './answers';
import { KernelBridge } from './bridge';
import { everyCell } from './cells';
import { followStreams } from './follow';
import { asksGrok } from './logic';
import { outputActions } from './outputs';
import { ChatPanel } from './panel';
import { proseCells } from './prose';

const VERSION = '0.1.0';
const MARKDOWN_RANK = 59; // the built-in Markdown renderer is 60; lower wins

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'grok-magics:plugin',
  description: 'grok-magics: %%grok cells as prose, Ask Grok on outputs, answer actions, a channel to the kernel',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry, IRenderMimeRegistry],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, languages: IEditorLanguageRegistry,
    rendermime: IRenderMimeRegistry): void => {
    // the script shipped inside answers checks this and stands down: no doubled buttons
    document.body.dataset.grokMagics = VERSION;
    const where = document.body.dataset.notebook ? 'notebook' : 'lab';

    rendermime.addFactory({
      safe: true,
      mimeTypes: ['text/markdown'],
      defaultRank: MARKDOWN_RANK,
      createRenderer: options => new AnswerMarkdown(options, tracker)
    }, MARKDOWN_RANK);

    const bridges = new WeakMap<NotebookPanel, KernelBridge>();
    const bridgeOf = (panel: NotebookPanel): KernelBridge => {
      let bridge = bridges.get(panel);
      if (!bridge) {
        bridge = new KernelBridge(panel, where, VERSION);
        for (const [method, handler] of agentHandlers(panel)) {
          bridge.handlers.set(method, handler); // agent cells: step cells and their buttons
        }
        bridges.set(panel, bridge);
      }
      return bridge;
    };
    tracker.forEach(bridgeOf);
    tracker.widgetAdded.connect((_, panel) => void bridgeOf(panel));

    NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
      if (cell.model.type !== 'code' || !asksGrok(cell.model.sharedModel.getSource())) {
        return;
      }
      keepAnswer(cell); // agent cells: the saved answer comes back when the steps below are kept
      const panel = tracker.find(p => p.content === notebook);
      if (panel) {
        bridgeOf(panel).push(cell);
      }
    });

    const prose = proseCells(languages);
    const actions = outputActions(tracker);
    everyCell(tracker, (panel, cell) => {
      prose(panel, cell);
      actions(panel, cell);
    });
    followStreams();

    const chats = new ChatPanel(tracker, bridgeOf); // the kernel's chats, in the right sidebar (src/panel.ts)
    app.shell.add(chats, 'right', { rank: 900 });

    app.commands.addCommand('grok-magics:chats', {
      label: 'Grok: the chats of this notebook\'s kernel',
      execute: async () => {
        const panel = tracker.currentWidget;
        if (!panel) {
          throw new Error('no notebook is open');
        }
        return bridgeOf(panel).request('chats');
      }
    });
  }
};

export default plugin;
