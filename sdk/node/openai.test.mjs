// The official OpenAI Node SDK against a real gateway process on the
// embedded default config: only the base URL changes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import OpenAI from "openai";

const bin = process.env.LLMGATEWAY_BIN ?? "../../bin/llmgateway";
let gw;
let client;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(base) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(base + "/readyz");
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("gateway did not become ready");
}

before(async () => {
  const [g, h] = [await freePort(), await freePort()];
  gw = spawn(bin, ["--log-level", "warn", "--grpc-addr", `127.0.0.1:${g}`, "--http-addr", `127.0.0.1:${h}`], { stdio: ["ignore", "ignore", "inherit"] });
  await waitReady(`http://127.0.0.1:${h}`);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${h}/v1`, apiKey: "unused", maxRetries: 0, timeout: 20000 });
});

after(async () => {
  if (!gw) return;
  const exited = new Promise((r) => gw.on("exit", (code) => r(code)));
  gw.kill("SIGTERM");
  assert.equal(await exited, 0, "gateway exits 0 on SIGTERM");
});

test("unary chat", async () => {
  const r = await client.chat.completions.create({ model: "gpt-4", messages: [{ role: "user", content: "Where is order 42?" }] });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.model, "gpt-4.1");
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test("streamed chat with usage equals unary", async () => {
  const req = { model: "claude-3", messages: [{ role: "user", content: "Summarise my order history" }] };
  const unary = await client.chat.completions.create(req);
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let usage;
  let finish;
  for await (const c of stream) {
    if (c.choices[0]) {
      text += c.choices[0].delta.content ?? "";
      finish = c.choices[0].finish_reason ?? finish;
    }
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, unary.choices[0].message.content);
  assert.equal(finish, "stop");
  assert.deepEqual(usage.total_tokens, unary.usage.total_tokens);
});

test("tool calls, streamed and unary", async () => {
  const tools = [{ type: "function", function: { name: "get_order", description: "Look up an order", parameters: { type: "object", properties: { id: { type: "string" } }, required: ["id"] } } }];
  const req = { model: "gpt-4", tools, messages: [{ role: "user", content: "order 42?" }] };
  const unary = await client.chat.completions.create(req);
  assert.equal(unary.choices[0].finish_reason, "tool_calls");
  const call = unary.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, "get_order");
  assert.ok(JSON.parse(call.function.arguments).id);

  const runner = client.chat.completions.stream({ ...req });
  const final = await runner.finalChatCompletion();
  assert.deepEqual(final.choices[0].message.tool_calls[0].function, call.function);

  const answer = await client.chat.completions.create({
    model: "gpt-4", tools,
    messages: [...req.messages, unary.choices[0].message, { role: "tool", tool_call_id: call.id, content: '{"status":"shipped"}' }],
  });
  assert.equal(answer.choices[0].finish_reason, "stop");
});

test("errors surface as APIError with the right status", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === "model_not_found",
  );
  await assert.rejects(
    client.chat.completions.create({ model: "gpt-4", messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "messages",
  );
});

test("models list", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  for (const want of ["gpt-4.1", "gpt-4", "claude-sonnet-4.5", "deepseek-chat"]) assert.ok(ids.includes(want), `${want} listed`);
});
