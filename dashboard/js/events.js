// GET /v1/events read with fetch() (EventSource cannot send an Authorization header), parsed
// as server-sent events here, and followed across drops with Last-Event-ID.

import { request } from "./api.js";

/**
 * An incremental text/event-stream parser (the WHATWG rules, minus `retry`). `lastEventId` is
 * the stream's last event ID as EventSource keeps it: set by an `id:` line when its message
 * ends, even a message without data (the server's first message is such a resume point).
 */
export class SseParser {
  constructor() {
    this.buffer = "";
    this.lastEventId = "";
    this.idBuffer = "";
    this.reset();
  }

  reset() {
    this.event = { type: "message", data: [], id: undefined };
  }

  /** Feed decoded text; returns the events it completed. */
  feed(text) {
    this.buffer += text;
    const done = [];
    // A CR at the very end may be the first half of CRLF: keep it for the next chunk.
    const hold = this.buffer.endsWith("\r") ? 1 : 0;
    const usable = this.buffer.slice(0, this.buffer.length - hold);
    const lines = usable.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() + (hold ? "\r" : "");
    for (const line of lines) {
      if (line === "") {
        this.lastEventId = this.idBuffer;
        if (this.event.data.length) {
          done.push({ type: this.event.type, data: this.event.data.join("\n"), id: this.event.id });
        }
        this.reset();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") this.event.data.push(value);
      else if (field === "event") this.event.type = value;
      else if (field === "id" && !value.includes("\0")) this.event.id = this.idBuffer = value;
    }
    return done;
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

/**
 * Follow the event stream until `signal` aborts. onEvent({type, id, data}) for each event;
 * onState("connecting" | "live" | "reconnecting" | "refused", resumed) as the connection
 * changes: "live" on every (re)connect, so the caller can catch up with what it missed.
 */
export async function follow({ onEvent, onState, signal }) {
  let lastId = null;
  let delay = 1000;
  while (!signal.aborted) {
    try {
      onState(lastId === null ? "connecting" : "reconnecting");
      const headers = { Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const response = await request("/v1/events", { headers, signal });
      if (response.status === 401 || response.status === 403) {
        onState("refused");
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      onState("live", lastId !== null);
      delay = 1000;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.feed(value)) onEvent(event);
        if (parser.lastEventId !== "") lastId = parser.lastEventId;
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    if (signal.aborted) return;
    onState("reconnecting");
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 8000);
  }
}
