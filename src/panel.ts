/**
 * The chat panel: the current notebook's kernel chats at a glance, in the right sidebar.
 *
 * It stores nothing: it asks the kernel (``panel`` over the page channel) when it is shown, when the
 * notebook changes and whenever the kernel says a chat changed (an answer ended, a reset, a fork), and
 * its buttons ask the kernel to reset, fork or export a chat. Every text is set as ``textContent``.
 */
import { InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { KernelBridge } from './bridge';
import { PanelState, budgetLine, chatLine } from './logic';

function element(tag: string, className: string, text = ''): HTMLElement {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

export class ChatPanel extends Widget {
  private bridge: KernelBridge | null = null;
  private unlisten: (() => void) | null = null;

  constructor(private tracker: INotebookTracker, private bridgeOf: (panel: NotebookPanel) => KernelBridge) {
    super();
    this.id = 'grok-magics-chats';
    this.title.label = 'Grok chats';
    this.title.caption = 'Grok: the chats of this notebook\'s kernel';
    this.addClass('grok-chat-panel');
    tracker.currentChanged.connect(() => this.follow());
    this.follow();
  }

  /** Listen to the current notebook's kernel; show its chats. */
  private follow(): void {
    this.unlisten?.();
    const current = this.tracker.currentWidget;
    this.bridge = current ? this.bridgeOf(current) : null;
    this.unlisten = this.bridge ? this.bridge.onEvent(() => void this.refresh()) : null;
    void this.refresh();
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    if (!this.bridge || !this.bridge.connected) {
      this.show_note('No notebook with grok-magics loaded in its kernel.');
      return;
    }
    try {
      this.render((await this.bridge.request('panel')) as PanelState);
    } catch (error) {
      this.show_note(String((error as Error).message || error));
    }
  }

  private show_note(text: string): void {
    this.node.replaceChildren(element('div', 'grok-chat-note', text));
  }

  private async act(method: string, params: Record<string, any>): Promise<void> {
    if (!this.bridge) {
      return;
    }
    try {
      const result = await this.bridge.request(method, params);
      if (method === 'export') {
        const blob = new Blob([String(result.text)], { type: 'text/markdown' });
        const link = document.createElement('a');
        link.href = URL.createObjectURL(blob);
        link.download = String(result.name);
        link.click();
        URL.revokeObjectURL(link.href);
      } else {
        this.render(result as PanelState);
      }
    } catch (error) {
      void showErrorMessage('Grok chats', String((error as Error).message || error));
    }
  }

  render(state: PanelState): void {
    const nodes: HTMLElement[] = [element('div', 'grok-chat-budget', budgetLine(state))];
    if (!state.chats.length) {
      nodes.push(element('div', 'grok-chat-note', 'No chats yet: run a %%grok cell.'));
    }
    for (const chat of state.chats) {
      const box = element('section', 'grok-chat');
      box.dataset.chat = chat.name;
      box.append(element('h3', 'grok-chat-name', chat.name), element('div', 'grok-chat-line', chatLine(chat)));
      const list = element('ol', 'grok-chat-turns');
      for (const turn of chat.turns) {
        const item = element('li', 'grok-chat-turn');
        item.append(element('div', 'grok-chat-you', `You: ${turn.prompt}`),
          element('div', 'grok-chat-grok', `Grok: ${turn.answer}`));
        list.append(item);
      }
      const actions = element('div', 'grok-chat-actions');
      const button = (label: string, run: () => void): void => {
        const node = element('button', `jp-Button jp-mod-minimal grok-chat-${label.toLowerCase()}`, label);
        node.addEventListener('click', run);
        actions.append(node);
      };
      button('Reset', () => void this.act('reset', { chat: chat.name }));
      button('Export', () => void this.act('export', { chat: chat.name }));
      button('Fork', async () => {
        const name = await InputDialog.getText({ title: `Fork chat ${chat.name} (as it stands now) as`,
          placeholder: `${chat.name}-2` });
        if (name.button.accept && name.value) {
          await this.act('fork', { chat: chat.name, name: name.value });
        }
      });
      box.append(list, actions);
      nodes.push(box);
    }
    this.node.replaceChildren(...nodes);
  }
}
