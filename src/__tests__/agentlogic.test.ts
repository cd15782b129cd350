// Node's own test runner on the agent step cells' logic (jlpm test).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  STEP_TAG, cellOutputs, decisionOf, insertIndex, keepsItsSteps, runEnded, stepIndex, stepIndexes, stepMetadata, stepOf,
  stepTitle
} from '../agentlogic';

const cells = [
  { id: 'a', metadata: {} },
  { id: 'agent', metadata: {} },
  { id: 's1', metadata: stepMetadata('agent', 1, 'load') },
  { id: 's2', metadata: stepMetadata('agent', 2, 'plot') },
  { id: 'other', metadata: stepMetadata('another', 1, '') },
  { id: 'b', metadata: {} }
];

test('a step cell is tagged and names its agent cell and step', () => {
  const metadata = stepMetadata('agent', 3, 'why');
  assert.deepEqual(metadata.tags, [STEP_TAG]);
  assert.deepEqual(stepOf(metadata), { agent_cell: 'agent', step: 3 });
  assert.equal(stepOf({}), null);
  assert.equal(stepOf({ grok_magics_agent_step: { agent_cell: '', step: 1 } }), null);
  assert.equal(stepOf({ grok_magics_agent_step: { agent_cell: 'x', step: '1' } }), null);
  assert.equal(stepOf(null), null);
});

test('the next step goes below the agent cell and its earlier steps, never among another agent\'s', () => {
  assert.equal(insertIndex(cells, 'agent', 3), 4);
  assert.equal(insertIndex(cells, 'agent', 2), 3); // a step again (a re-asked number) goes before the later one
  assert.equal(insertIndex(cells, 'agent', 1), 2);
  assert.equal(insertIndex(cells, 'b', 1), 6);
  assert.equal(insertIndex(cells, 'missing', 1), -1);
  assert.equal(insertIndex([{ id: 'agent', metadata: {} }], 'agent', 1), 1);
});

test('an agent cell\'s steps are found wherever they are, and one by its number', () => {
  assert.deepEqual(stepIndexes(cells, 'agent'), [2, 3]);
  assert.deepEqual(stepIndexes(cells, 'another'), [4]);
  assert.deepEqual(stepIndexes(cells, 'a'), []);
  assert.equal(stepIndex(cells, 'agent', 2), 3);
  assert.equal(stepIndex(cells, 'agent', 9), -1);
});

test('decisions: only run, skip and stop; anything else is skip', () => {
  assert.equal(decisionOf('run'), 'run');
  assert.equal(decisionOf('stop'), 'stop');
  assert.equal(decisionOf('RUN'), 'skip');
  assert.equal(decisionOf(undefined), 'skip');
  assert.equal(stepTitle(2, 'plot', []), "Grok's step 2: plot");
  assert.equal(stepTitle(2, '', ['writes files']), "Grok's step 2 · ⚠ writes files");
});

test('only nbformat outputs reach a step cell', () => {
  const kept = cellOutputs([
    { output_type: 'stream', name: 'stdout', text: 'hi' },
    { output_type: 'display_data', data: {}, metadata: {} },
    { output_type: 'script', source: 'x' },
    null,
    'text'
  ]);
  assert.equal(kept.length, 2);
  assert.deepEqual(cellOutputs('nope'), []);
});

test('an agent cell run again keeps its steps unless --rerun', () => {
  assert.equal(keepsItsSteps('%%grok --agent\nplot it'), true);
  assert.equal(keepsItsSteps('\n  %%grok --effort high --agent\nplot it'), true);
  assert.equal(keepsItsSteps('%%grok --agent --rerun\nplot it'), false);
  assert.equal(keepsItsSteps('%%grok\nplot it --agent'), false);
  assert.equal(keepsItsSteps('%%grok --agentish\nx'), false);
  assert.equal(keepsItsSteps('x = 1 # %%grok --agent'), false);
});

test('the agent cell\'s run is over when its model says so, in JupyterLab 4.2 and in 4.3 on', () => {
  assert.equal(runEnded({ name: 'executionState', newValue: 'idle' }), true); // 4.3 on
  assert.equal(runEnded({ name: 'executionState', newValue: 'running' }), false);
  assert.equal(runEnded({ name: 'executionCount', newValue: 7 }), true); // 4.2: the reply's count arrives
  assert.equal(runEnded({ name: 'executionCount', newValue: null }), false); // a run starting clears it
  assert.equal(runEnded({ name: 'outputs', newValue: [] }), false);
});
