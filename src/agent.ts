/**
 * Agent cells on the page: each step Grok proposes becomes a real code cell below the agent cell
 * (tagged ``grok-agent-step``), approved with Run / Skip / Stop buttons on that cell, then given the
 * outputs the step made in the kernel. The kernel asks (``agent_step``, ``agent_outputs``,
 * ``agent_steps``) from an awaiting async cell; the answer to ``agent_step`` waits for the click.
 * The notebook is the record: Run All runs the step cells like any other, without Grok.
 */
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { NotebookPanel } from '@jupyterlab/notebook';
import { JSONValue } from '@lumino/coreutils';

import {
  CellInfo, Decision, cellOutputs, decisionOf, insertIndex, keepsItsSteps, runEnded, stepIndex, stepIndexes,
  stepMetadata, stepTitle
} from './agentlogic';

type Params = Record<string, any>;
type Handler = (params: Params) => Promise<JSONValue>;

/** The kernel's agent requests this notebook answers (registered on its bridge). */
export function agentHandlers(panel: NotebookPanel): Map<string, Handler> {
  return new Map<string, Handler>([
    ['agent_step', params => insertStep(panel, params)],
    ['agent_outputs', params => setOutputs(panel, params)],
    ['agent_steps', params => countSteps(panel, params)]
  ]);
}

/**
 * The outputs an agent cell had when it was scheduled to run again (Run All): running clears them, and
 * when the kernel finds the step cells still below (nothing is asked again) they come back, so the
 * saved answer stays with its steps. Kept until that cell's ``agent_steps`` request, one per cell.
 */
const previous = new Map<string, nbformat.IOutput[]>();

export function keepAnswer(cell: Cell): void {
  if (cell.model.type !== 'code' || !keepsItsSteps(cell.model.sharedModel.getSource())) {
    return;
  }
  const outputs = (cell.model as ICodeCellModel).outputs;
  const kept: nbformat.IOutput[] = [];
  for (let i = 0; i < outputs.length; i++) {
    kept.push(outputs.get(i).toJSON());
  }
  previous.set(cell.model.id, kept);
}

function cellInfos(panel: NotebookPanel): CellInfo[] {
  const model = panel.content.model;
  const infos: CellInfo[] = [];
  if (model) {
    for (let i = 0; i < model.cells.length; i++) {
      const cell = model.cells.get(i);
      infos.push({ id: cell.id, metadata: cell.sharedModel.getMetadata() });
    }
  }
  return infos;
}

function removeStep(panel: NotebookPanel, agentCell: string, step: number): void {
  const index = stepIndex(cellInfos(panel), agentCell, step);
  if (index >= 0) {
    panel.content.model?.sharedModel.deleteCell(index);
  }
}

async function insertStep(panel: NotebookPanel, params: Params): Promise<JSONValue> {
  const model = panel.content.model;
  const agentCell = String(params.agent_cell ?? '');
  const step = Number(params.step ?? 0);
  const index = insertIndex(cellInfos(panel), agentCell, step);
  if (!model || index < 0) {
    throw new Error('the agent cell is no longer in this notebook');
  }
  model.sharedModel.insertCell(index, {
    cell_type: 'code',
    source: String(params.code ?? ''),
    metadata: stepMetadata(agentCell, step, String(params.purpose ?? ''))
  });
  const cell = panel.content.widgets[index];
  if (!params.ask) {
    return { decision: 'run' };
  }
  await panel.content.scrollToItem(index, 'smart'); // a windowed notebook makes the cell's widget when in view
  await cell.ready;
  const risks = Array.isArray(params.risks) ? params.risks.map(String) : [];
  const agentIndex = cellInfos(panel).findIndex(info => info.id === agentCell);
  const agentModel = agentIndex >= 0 ? (model.cells.get(agentIndex) as ICodeCellModel) : null;
  const decision = await buttons(cell, stepTitle(step, String(params.purpose ?? ''), risks), risks.length > 0,
    agentModel);
  if (decision !== 'run') {
    removeStep(panel, agentCell, step); // a step that did not run leaves no cell: nothing looks as if it ran
  }
  return { decision };
}

/** Run / Skip / Stop on a step cell; the promise settles on the click and the bar goes. */
function buttons(cell: Cell, title: string, flagged: boolean, agent: ICodeCellModel | null): Promise<Decision> {
  const bar = document.createElement('div');
  bar.className = 'grok-agent-bar' + (flagged ? ' grok-agent-flagged' : '');
  const label = document.createElement('span');
  label.className = 'grok-agent-title';
  label.textContent = title;
  bar.appendChild(label);
  return new Promise(resolve => {
    // the agent cell ended without an answer (Ctrl-C, a restart): the step was not run, its cell goes
    const ended = (_: unknown, change: { name: string; newValue: unknown }): void => {
      if (agent && runEnded(change)) {
        agent.stateChanged.disconnect(ended);
        bar.remove();
        resolve('stop');
      }
    };
    const labels: Array<[Decision, string, string]> = [
      ['run', 'Run', 'Run this step in the kernel'],
      ['skip', 'Skip', 'Do not run it; Grok goes on without it'],
      ['stop', 'Stop', 'Do not run it and stop the agent']
    ];
    for (const [decision, text, tip] of labels) {
      const button = document.createElement('button');
      button.className = `grok-agent-${decision} jp-Button`;
      button.textContent = text;
      button.title = tip;
      button.onclick = () => {
        agent?.stateChanged.disconnect(ended);
        bar.remove();
        resolve(decisionOf(decision));
      };
      bar.appendChild(button);
    }
    cell.node.appendChild(bar);
    cell.disposed.connect(() => resolve('skip'));
    agent?.stateChanged.connect(ended);
  });
}

async function setOutputs(panel: NotebookPanel, params: Params): Promise<JSONValue> {
  const agentCell = String(params.agent_cell ?? '');
  const step = Number(params.step ?? 0);
  const index = stepIndex(cellInfos(panel), agentCell, step);
  const model = index >= 0 ? panel.content.model?.cells.get(index) : undefined;
  if (!model || model.type !== 'code') {
    throw new Error(`step ${step}'s cell is no longer in this notebook`);
  }
  const outputs = (model as ICodeCellModel).outputs;
  outputs.clear();
  for (const output of cellOutputs(params.outputs)) {
    outputs.add(output as nbformat.IOutput);
  }
  return { cell_id: model.id };
}

async function countSteps(panel: NotebookPanel, params: Params): Promise<JSONValue> {
  const agentCell = String(params.agent_cell ?? '');
  const found = stepIndexes(cellInfos(panel), agentCell);
  const kept = previous.get(agentCell) ?? [];
  previous.delete(agentCell);
  if (params.clear) {
    for (const index of [...found].reverse()) {
      panel.content.model?.sharedModel.deleteCell(index);
    }
    return { count: found.length, restored: false };
  }
  const index = cellInfos(panel).findIndex(info => info.id === agentCell);
  const model = index >= 0 ? panel.content.model?.cells.get(index) : undefined;
  const restore = found.length > 0 && kept.length > 0 && model?.type === 'code';
  if (restore) {
    const outputs = (model as ICodeCellModel).outputs;
    for (const output of kept) {
      outputs.add(output);
    }
  }
  return { count: found.length, restored: restore };
}
