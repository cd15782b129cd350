/**
 * The page's end of the channel to the kernel: one comm per notebook session, opened by the page when
 * the kernel is ready (and accepted when the kernel opens one, for magics loaded later), re-opened
 * after a restart. Optional on both sides: a kernel without grok-magics closes the page's comm and the
 * page simply has no channel.
 *
 * Shell messages are handled one at a time, so the kernel cannot wait for the page inside a running
 * magic: before a Grok cell runs, the page *pushes* what that cell may need (the cells above, the
 * outputs its ``--output`` names); an async cell can also *pull* (the kernel's requests below).
 */
import { Cell } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Kernel, KernelMessage } from '@jupyterlab/services';
import { JSONObject, JSONValue } from '@lumino/coreutils';

import {
  COMM_TARGET, LIMITS, PROTOCOL_VERSION, answerInfo, bounded, outputRefs, speaksVersion, wantsImages
} from './logic';

const PAGE_TIMEOUT_MS = 5000; // the page waits this long for the kernel's reply (an idle kernel answers at once)

type Message = Record<string, any>;

/** Text a person would read from an output, bounded. */
function outputText(output: nbformat.IOutput, limit: number): string {
  if (output.output_type === 'stream') {
    return bounded(joined((output as nbformat.IStream).text), limit);
  }
  if (output.output_type === 'error') {
    const error = output as nbformat.IError;
    return bounded([`${error.ename}: ${error.evalue}`, ...(error.traceback || [])].join('\n'), limit);
  }
  const data = ((output as nbformat.IDisplayData).data || {}) as Record<string, unknown>;
  const mime = answerInfo(output.metadata) ? 'text/markdown' : 'text/plain';
  return bounded(joined(data[mime] ?? data['text/plain'] ?? ''), limit);
}

function joined(value: unknown): string {
  return Array.isArray(value) ? value.join('') : typeof value === 'string' ? value : '';
}

/** An output as the cells-above summary carries it: its kind, its mime types, its text. */
export function outputSummary(output: nbformat.IOutput, limit: number = LIMITS.summary): JSONObject {
  const summary: JSONObject = { output_type: output.output_type, text: outputText(output, limit) };
  if (output.output_type === 'error') {
    summary.ename = (output as nbformat.IError).ename;
    summary.evalue = (output as nbformat.IError).evalue;
    summary.traceback = ((output as nbformat.IError).traceback || []).slice(-200);
  }
  if (output.output_type === 'execute_result' || output.output_type === 'display_data') {
    summary.mimes = Object.keys((output as nbformat.IDisplayData).data || {});
    if (output.output_type === 'execute_result') {
      summary.execution_count = (output as nbformat.IExecuteResult).execution_count ?? null;
    }
    if (answerInfo(output.metadata)) {
      summary.grok = true;
      const own = ((output.metadata || {}) as Record<string, any>)['grok_magics'];
      // what rebuilds this answer's turn after a kernel restart (prompt, answer, chat, model: never a key)
      if (own && typeof own === 'object' && own.turn && JSON.stringify(own.turn).length <= LIMITS.text * 5) {
        summary.turn = own.turn as JSONObject;
        summary.chat = String(own.chat ?? 'default');
      }
      // what the cell shows: the kernel restores a turn only if its answer is there (metadata is hidden)
      summary.plain = bounded(joined((output as nbformat.IDisplayData).data?.['text/plain']), LIMITS.text * 5);
    }
  }
  return summary;
}

const IMAGE_MIMES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

function hasImage(output: nbformat.IOutput): boolean {
  const data = ((output as nbformat.IDisplayData).data || {}) as Record<string, unknown>;
  return IMAGE_MIMES.some(mime => typeof data[mime] === 'string');
}

/** One output whole (one image or text mime type plus its plain text), for ``--output`` and the ``output`` request. */
export function outputData(output: nbformat.IOutput): JSONObject {
  const whole: JSONObject = outputSummary(output, LIMITS.text);
  if (output.output_type !== 'execute_result' && output.output_type !== 'display_data') {
    return whole;
  }
  const data = ((output as nbformat.IDisplayData).data || {}) as Record<string, unknown>;
  const picked: JSONObject = {};
  const image = IMAGE_MIMES.find(mime => typeof data[mime] === 'string');
  if (image) {
    const base64 = (data[image] as string).replace(/\s+/g, '');
    if (base64.length <= LIMITS.image) {
      picked[image] = base64;
    } else {
      whole.too_large = image;
    }
  }
  for (const mime of ['text/plain', 'text/markdown', 'text/html']) {
    if (data[mime] !== undefined) {
      picked[mime] = bounded(joined(data[mime]), LIMITS.text);
    }
  }
  whole.data = picked;
  return whole;
}

function cellJson(cell: Cell, images = false): JSONObject {
  const model = cell.model;
  const json: JSONObject = {
    id: model.id,
    cell_type: model.type,
    source: bounded(model.sharedModel.getSource(), LIMITS.source)
  };
  const tags = model.getMetadata('tags');
  if (Array.isArray(tags)) {
    json.tags = tags.filter(tag => typeof tag === 'string').slice(0, 50) as JSONValue;
  }
  // classroom: an exercise's guidance for the tutor (metadata.grok: solution, rubric, hints), never displayed
  const grok = model.getMetadata('grok');
  if (grok && typeof grok === 'object') {
    json.metadata = { grok: grok as JSONValue };
  }
  if (model.type === 'code') {
    const code = model as any;
    json.execution_count = code.executionCount ?? null;
    const outputs: JSONValue[] = [];
    for (let i = 0; i < code.outputs.length; i++) {
      const output = code.outputs.get(i).toJSON() as nbformat.IOutput;
      outputs.push(images && hasImage(output) ? outputData(output) : outputSummary(output));
    }
    json.outputs = outputs;
  }
  return json;
}

/** A message shrunk (fewer cells: the farthest go first) until it fits the message limit. */
function fitted(message: Message): Message {
  const holder = Array.isArray(message.above) ? message : message.result;
  const key = Array.isArray(message.above) ? 'above' : 'cells';
  while (JSON.stringify(message).length > LIMITS.message && holder && Array.isArray(holder[key]) &&
    holder[key].length > 0) {
    holder[key] = holder[key].slice(0, Math.floor(holder[key].length / 2));
    message.truncated = true;
  }
  return message;
}

export class KernelBridge {
  private comm: Kernel.IComm | null = null; // the comm the kernel has greeted: requests go there
  private kernel: Kernel.IKernelConnection | null = null;
  private pending = new Map<string, { resolve: (v: any) => void; reject: (e: Error) => void; timer: number }>();
  private count = 0;
  private target = (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void => this.adopt(comm, msg);

  constructor(private panel: NotebookPanel, private app: string, private version: string) {
    const context = panel.sessionContext;
    context.kernelChanged.connect(() => this.attach());
    context.statusChanged.connect((_, status) => this.onStatus(status));
    void context.ready.then(() => this.attach());
    panel.disposed.connect(() => this.detach());
  }

  private listeners = new Set<(event: string) => void>();

  /** Call ``listener`` on the kernel's events (``chats``: a chat changed) and when the channel opens. */
  onEvent(listener: (event: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(event: string): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        console.debug('grok-magics: an event listener failed', error);
      }
    }
  }

  /** Whether the kernel's side has answered: grok-magics is loaded there. */
  get connected(): boolean {
    return this.comm !== null;
  }

  private restarting = false;

  private onStatus(status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      this.restarting = true;
      this.comm = null; // the kernel's comms die with it
      this.failPending('the kernel restarted');
    } else if (this.restarting && (status === 'idle' || status === 'busy')) {
      this.restarting = false;
      this.open();
    }
  }

  private attach(): void {
    this.detach();
    const kernel = this.panel.sessionContext.session?.kernel ?? null;
    this.kernel = kernel;
    if (!kernel) {
      return;
    }
    kernel.registerCommTarget(COMM_TARGET, this.target);
    this.open();
  }

  private detach(): void {
    this.failPending('the notebook closed its kernel connection');
    if (this.kernel && !this.kernel.isDisposed) {
      try {
        this.kernel.removeCommTarget(COMM_TARGET, this.target);
      } catch {
        // nothing registered
      }
    }
    this.comm = null;
    this.kernel = null;
  }

  /** The page opens a comm; a kernel without grok-magics closes it again and nothing else happens. */
  private open(): void {
    const kernel = this.kernel;
    if (!kernel || kernel.isDisposed) {
      return;
    }
    try {
      const comm = kernel.createComm(COMM_TARGET);
      this.listen(comm);
      comm.open(this.hello() as JSONObject);
    } catch (error) {
      console.debug('grok-magics: no channel to the kernel', error);
    }
  }

  /** The kernel opened a comm (its magics loaded after the page connected): greet it back. */
  private adopt(comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg): void {
    this.listen(comm);
    if (speaksVersion(msg.content.data)) {
      this.comm = comm;
      comm.send(this.hello() as JSONObject);
    }
  }

  private hello(): Message {
    return { v: PROTOCOL_VERSION, type: 'hello', app: this.app, version: this.version };
  }

  private listen(comm: Kernel.IComm): void {
    comm.onMsg = msg => this.receive(comm, msg.content.data as Message);
    comm.onClose = () => {
      if (this.comm === comm) {
        this.comm = null;
      }
    };
  }

  private receive(comm: Kernel.IComm, message: Message): void {
    if (!speaksVersion(message)) {
      if (message && message.type === 'request') {
        comm.send({ v: PROTOCOL_VERSION, type: 'reply', id: message.id, ok: false,
          error: `the page speaks grok-magics protocol ${PROTOCOL_VERSION}, not ${message.v}: reinstall grok-magics` });
      }
      return;
    }
    if (message.type === 'hello') {
      this.comm = comm;
      this.notify('connected');
    } else if (message.type === 'event') {
      this.notify(String(message.event)); // e.g. "chats": an answer ended (the chat panel refreshes)
    } else if (message.type === 'reply') {
      const waiting = this.pending.get(message.id);
      if (waiting) {
        this.pending.delete(message.id);
        window.clearTimeout(waiting.timer);
        if (message.ok) {
          waiting.resolve(message.result);
        } else {
          waiting.reject(new Error(String(message.error)));
        }
      }
    } else if (message.type === 'request') {
      const handler = this.handlers.get(String(message.method)); // answered later (agent steps: src/agent.ts)
      if (handler) {
        void this.answerLater(comm, message, handler);
        return;
      }
      let reply: Message;
      try {
        reply = { ok: true, result: this.answer(String(message.method), message.params || {}) };
      } catch (error) {
        reply = { ok: false, error: String((error as Error).message || error) };
      }
      comm.send(fitted({ v: PROTOCOL_VERSION, type: 'reply', id: message.id, ...reply }) as JSONObject);
    }
  }

  /** Requests answered by other parts of the page, possibly after a click (agent steps: src/agent.ts). */
  readonly handlers = new Map<string, (params: Message) => Promise<JSONValue>>();

  private async answerLater(comm: Kernel.IComm, message: Message,
    handler: (params: Message) => Promise<JSONValue>): Promise<void> {
    let reply: Message;
    try {
      reply = { ok: true, result: await handler(message.params || {}) };
    } catch (error) {
      reply = { ok: false, error: String((error as Error).message || error) };
    }
    try {
      comm.send({ v: PROTOCOL_VERSION, type: 'reply', id: message.id, ...reply } as JSONObject);
    } catch {
      // the kernel went away meanwhile
    }
  }

  /** What the kernel may ask the page for. */
  private answer(method: string, params: Message): JSONValue {
    if (method === 'notebook') {
      return this.notebookInfo();
    }
    if (method === 'cells_above') {
      return { cell_id: params.cell_id ?? null, cells: this.cellsAbove(String(params.cell_id ?? '')) };
    }
    if (method === 'output') {
      const output = this.output(String(params.cell_id ?? ''), Number(params.index ?? 0));
      if (!output) {
        throw new Error(`no output ${params.index} in cell ${params.cell_id} on the page`);
      }
      return output;
    }
    if (method === 'set_metadata') {
      return this.setMetadata(String(params.key ?? ''), params.values);
    }
    throw new Error(`unknown request ${method}`);
  }

  /** classroom: ``%grok policy hints`` merges ``values`` into the notebook's ``metadata[key]`` (only ``grok``). */
  private setMetadata(key: string, values: any): JSONObject {
    const model = this.panel.content.model;
    if (key !== 'grok' || !model || !values || typeof values !== 'object' || Array.isArray(values)) {
      throw new Error('only metadata.grok can be set, from an object');
    }
    const before = model.getMetadata('grok');
    const merged = { ...(before && typeof before === 'object' ? before : {}), ...values };
    model.setMetadata('grok', merged);
    return { key, metadata: merged };
  }

  notebookInfo(): JSONObject {
    const model = this.panel.content.model;
    let metadata: JSONValue = (model?.metadata ?? {}) as JSONValue;
    if (JSON.stringify(metadata).length > LIMITS.text * 10) {
      metadata = { truncated: true };
    }
    return { path: this.panel.context.path, name: this.panel.context.path.split('/').pop() ?? '', metadata,
      app: this.app };
  }

  private cellIndex(cellId: string): number {
    const widgets = this.panel.content.widgets;
    const index = widgets.findIndex(cell => cell.model.id === cellId);
    return index < 0 ? widgets.length : index;
  }

  /** The cells above ``cellId`` (all cells for an unknown id), nearest first, at most ``LIMITS.cells``. */
  cellsAbove(cellId: string, images = false): JSONValue[] {
    const widgets = this.panel.content.widgets.slice(0, this.cellIndex(cellId));
    return widgets.reverse().slice(0, LIMITS.cells).map(cell => cellJson(cell, images));
  }

  output(cellId: string, index: number): JSONObject | null {
    const cell = this.panel.content.widgets.find(c => c.model.id === cellId);
    const outputs = cell && cell.model.type === 'code' ? (cell.model as any).outputs : null;
    if (!outputs || index < 0 || index >= outputs.length) {
      return null;
    }
    return { cell_id: cellId, index, ...outputData(outputs.get(index).toJSON() as nbformat.IOutput) };
  }

  /** Before a Grok cell runs: what it may need, sent ahead of its execute request (same shell queue). */
  push(cell: Cell): void {
    if (!this.comm) {
      return;
    }
    const source = cell.model.sharedModel.getSource();
    const outputs: JSONObject = {};
    for (const ref of outputRefs(source)) {
      const output = this.output(ref.cellId, ref.index);
      if (output) {
        outputs[`${ref.cellId}:${ref.index}`] = output;
      }
    }
    const message = fitted({
      v: PROTOCOL_VERSION, type: 'context', cell_id: cell.model.id, notebook: this.notebookInfo(),
      above: this.cellsAbove(cell.model.id, wantsImages(source)), outputs
    });
    this.comm.send(message as JSONObject);
  }

  /** Ask the kernel (``chats``); rejects at once without a channel, and after a short wait without an answer. */
  request(method: string, params: JSONObject = {}, timeout = PAGE_TIMEOUT_MS): Promise<any> {
    const comm = this.comm;
    if (!comm) {
      return Promise.reject(new Error('grok-magics is not loaded in this notebook\'s kernel'));
    }
    const id = `page-${++this.count}`;
    return new Promise((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the kernel did not answer ${method} within ${timeout / 1000} s (busy?)`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      comm.send({ v: PROTOCOL_VERSION, type: 'request', id, method, params });
    });
  }

  private failPending(why: string): void {
    for (const [id, waiting] of this.pending) {
      window.clearTimeout(waiting.timer);
      waiting.reject(new Error(why));
      this.pending.delete(id);
    }
  }
}
