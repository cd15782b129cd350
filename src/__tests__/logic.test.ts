// Node's own test runner on the compiled logic (jlpm test): the decisions the page makes, without a page.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  aboutCell, answerInfo, asksGrok, bounded, continueCell, fixCell, insertable, isGrokCell, isProgrammingLanguage,
  magicLine, normalLanguage, outputRefs, speaksVersion
} from '../logic';

test('a %%grok cell is one whose first line is the cell magic, as IPython reads it', () => {
  assert.equal(isGrokCell('%%grok\nIs a p-value in the data?'), true);
  assert.equal(isGrokCell('%%grok --effort high\nwith numbers'), true);
  assert.equal(isGrokCell('\n\n  %%grok\nleading blank lines and indentation are dropped by IPython'), true);
  assert.equal(isGrokCell('%%grok'), true);
  assert.equal(isGrokCell('%%grok map df\n{name}'), true);
  assert.equal(isGrokCell('%%grokking\nnot ours'), false);
  assert.equal(isGrokCell('%grok a line magic'), false);
  assert.equal(isGrokCell('x = 1\n%%grok\nnot on the first line'), false);
  assert.equal(isGrokCell('# %%grok in a comment'), false);
  assert.equal(isGrokCell(''), false);
  assert.equal(magicLine('\n  %%grok --chat a  \nbody'), '%%grok --chat a');
});

test('line magics in Python cells ask Grok but stay Python', () => {
  const source = 'import numpy as np\n%grok what is in x?\nprint(1)';
  assert.equal(asksGrok(source), true);
  assert.equal(isGrokCell(source), false);
  assert.equal(asksGrok('print("%grok")'), false);
});

test('programming languages get Insert; data, markup and tool calls never do', () => {
  for (const lang of ['python', 'py', 'Python3', 'sql', 'bash', 'sh', 'r', 'javascript', 'language-python']) {
    assert.equal(isProgrammingLanguage(lang), true, lang);
    assert.equal(insertable(lang, 'x = 1', false), true, lang);
  }
  for (const lang of ['json', 'jsonc', 'yaml', 'toml', 'csv', 'text', 'markdown', 'html', 'xml', 'console', 'diff']) {
    assert.equal(isProgrammingLanguage(lang), false, lang);
    assert.equal(insertable(lang, 'x = 1', false), false, lang);
  }
  assert.equal(insertable('python', 'print(1)', true), false, 'a block inside a tool call');
  assert.equal(insertable('', 'print(1)', false), true, 'an unlabelled block of code');
  assert.equal(insertable('', '{"a": 1}', false), false, 'an unlabelled block of JSON');
  assert.equal(insertable('python', '   ', false), false, 'an empty block');
  assert.equal(normalLanguage('py title="x"'), 'python');
  assert.equal(normalLanguage(''), '');
});

test("an answer is recognised by its output metadata, and says its chat", () => {
  assert.equal(answerInfo({}), null);
  assert.equal(answerInfo(undefined), null);
  assert.equal(answerInfo({ grok_magics: 'x' }), null);
  assert.deepEqual(answerInfo({ grok_magics: { chat: 'stats', model: 'grok-4.3' } }),
    { chat: 'stats', final: true, failed: false });
  assert.deepEqual(answerInfo({ grok_magics_part: { chat: 'default' } }),
    { chat: 'default', final: false, failed: false });
  assert.deepEqual(answerInfo({ grok_magics: { model: 'm', failed: true } }),
    { chat: 'default', final: true, failed: true });
});

test('the cells the actions insert are valid magics with a body', () => {
  const fix = fixCell().split('\n');
  assert.equal(fix[0], '%%grok fix');
  assert.ok(fix[1].trim().length > 0, 'IPython refuses a cell magic with an empty body');
  const about = aboutCell('0a1b-2c', 3);
  assert.equal(about.split('\n')[0], '%%grok --output 0a1b-2c:3');
  assert.deepEqual(outputRefs(about), [{ cellId: '0a1b-2c', index: 3 }]);
  assert.deepEqual(outputRefs('%%grok\n--output a:1 in the body is prose'), []);
  assert.equal(continueCell('default'), '%%grok\n');
  assert.equal(continueCell('stats'), '%%grok --chat stats\n');
  assert.equal(continueCell("Bob's chat"), `%%grok --chat 'Bob'"'"'s chat'\n`);
});

test('bounds and versions', () => {
  assert.equal(bounded('abc', 5), 'abc');
  assert.match(bounded('a'.repeat(10), 4), /^aaaa\n… \(6 more characters not sent\)$/);
  assert.equal(speaksVersion({ v: 1 }), true);
  assert.equal(speaksVersion({ v: 2 }), false);
  assert.equal(speaksVersion(null), false);
});
