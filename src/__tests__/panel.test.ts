// The chat panel's lines and the --context images switch (jlpm test), without a page.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PanelChat, budgetLine, chatLine, money, wantsImages } from '../logic';

test('a chat is one line: turns, tokens, cost, where a fork branched', () => {
  const chat: PanelChat = { name: 'other', turns: [{ prompt: 'a', answer: 'b' }], tokens: 1234, cost: 0.0123,
    calls: 1, fork_of: { chat: 'default', turns: 2 } };
  assert.equal(chatLine(chat), '1 turn · ~1,234 tokens · $0.012 · fork of default at 2');
  assert.equal(chatLine({ ...chat, turns: [], fork_of: null, cost: 2 }), '0 turns · ~1,234 tokens · $2.00');
  assert.equal(money(0.0001), '$0.0001');
});

test('the budget line says what is left, or that none is set', () => {
  assert.equal(budgetLine({ chats: [], spent: 0.5, budget: { cap: 2, spent: 0.5, left: 1.5 } }),
    'Classroom budget: $1.50 left of $2.00');
  assert.equal(budgetLine({ chats: [], spent: 0.02, budget: null }),
    'Spent in this kernel: $0.020 (no classroom budget set)');
});

test('images of the cells above are pushed only when the magic line asks for them', () => {
  assert.equal(wantsImages('%%grok --context above,images\nWhy?'), true);
  assert.equal(wantsImages('%%grok --context above:3,images\nWhy?'), true);
  assert.equal(wantsImages('%%grok --context above\nWhy?'), false);
  assert.equal(wantsImages('%%grok\nabove,images in the prompt'), false);
});
