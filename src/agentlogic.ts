/**
 * Agent step cells, the decisions without a page (node-tested): which cells are an agent cell's steps,
 * where the next step goes, what a step cell carries. ``%%grok --agent`` with the page makes every step
 * a real code cell below the agent cell, so the notebook is the record and Run All reproduces it.
 */

import { isGrokCell, magicLine } from './logic';

export const STEP_TAG = 'grok-agent-step';
export const STEP_META = 'grok_magics_agent_step';
export const DECISIONS = ['run', 'skip', 'stop'] as const;
export type Decision = (typeof DECISIONS)[number];

export interface StepInfo {
  agent_cell: string;
  step: number;
}

export interface CellInfo {
  id: string;
  metadata: unknown;
}

/** The step a cell's metadata names, or null for any other cell. */
export function stepOf(metadata: unknown): StepInfo | null {
  if (!metadata || typeof metadata !== 'object') {
    return null;
  }
  const info = (metadata as Record<string, unknown>)[STEP_META];
  if (!info || typeof info !== 'object') {
    return null;
  }
  const { agent_cell: agentCell, step } = info as Record<string, unknown>;
  return typeof agentCell === 'string' && agentCell && typeof step === 'number' ? { agent_cell: agentCell, step } : null;
}

/** The metadata of a new step cell: tagged (to group, collapse or remove them) and tied to its agent cell. */
export function stepMetadata(agentCell: string, step: number, purpose: string): Record<string, any> {
  return { tags: [STEP_TAG], [STEP_META]: { agent_cell: agentCell, step, purpose } };
}

/** The indexes of the cells that are ``agentCell``'s steps. */
export function stepIndexes(cells: CellInfo[], agentCell: string): number[] {
  const found: number[] = [];
  cells.forEach((cell, index) => {
    if (stepOf(cell.metadata)?.agent_cell === agentCell) {
      found.push(index);
    }
  });
  return found;
}

/** Where step ``step`` goes: below the agent cell and below its earlier steps; -1 without the agent cell. */
export function insertIndex(cells: CellInfo[], agentCell: string, step: number): number {
  const agent = cells.findIndex(cell => cell.id === agentCell);
  if (agent < 0) {
    return -1;
  }
  let index = agent + 1;
  while (index < cells.length) {
    const info = stepOf(cells[index].metadata);
    if (!info || info.agent_cell !== agentCell || info.step >= step) {
      break;
    }
    index++;
  }
  return index;
}

/** The index of the cell of step ``step`` of ``agentCell``, -1 when it is not (or no longer) there. */
export function stepIndex(cells: CellInfo[], agentCell: string, step: number): number {
  return cells.findIndex(cell => {
    const info = stepOf(cell.metadata);
    return info !== null && info.agent_cell === agentCell && info.step === step;
  });
}

/** The line above a step's buttons. */
export function stepTitle(step: number, purpose: string, risks: string[]): string {
  const title = `Grok's step ${step}` + (purpose ? `: ${purpose}` : '');
  return risks.length ? `${title} · ⚠ ${risks.join('; ')}` : title;
}

/** Whether a change of the agent cell's model says its run is over (Ctrl-C, a restart): the execution state
 * leaves "running" (JupyterLab 4.3 on), or, before that, the cell gets its execution count back. */
export function runEnded(change: { name: string; newValue: unknown }): boolean {
  return (
    (change.name === 'executionState' && change.newValue !== 'running') ||
    (change.name === 'executionCount' && change.newValue !== null)
  );
}

/** A decision read from the kernel's side or a button, anything unknown being the safe one (skip). */
export function decisionOf(value: unknown): Decision {
  return (DECISIONS as readonly string[]).includes(String(value)) ? (String(value) as Decision) : 'skip';
}

/** A cell made by a step, as the page may receive it: only nbformat output types pass. */
export function cellOutputs(outputs: unknown): Array<Record<string, any>> {
  if (!Array.isArray(outputs)) {
    return [];
  }
  const kinds = ['stream', 'display_data', 'execute_result', 'error'];
  return outputs.filter(
    (o): o is Record<string, any> => !!o && typeof o === 'object' && kinds.includes((o as any).output_type)
  );
}

/** An agent cell that, run again, keeps its step cells (and so its saved answer): ``--agent`` without ``--rerun``. */
export function keepsItsSteps(source: string): boolean {
  if (!isGrokCell(source)) {
    return false;
  }
  const words = magicLine(source).split(/\s+/);
  return words.includes('--agent') && !words.includes('--rerun');
}
