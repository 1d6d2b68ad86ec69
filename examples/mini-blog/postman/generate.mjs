// Regenerates mini-blog.postman_collection.json from the server's OpenAPI document, so the
// collection can never describe an API the code does not serve.
//
//   cargo run -p mini-blog -- serve --port 8080 &
//   npm ci && npm run generate                   # or: node generate.mjs <url-or-file>
//
// openapi-to-postmanv2 turns every operation into a request with example values ("string").
// That imports fine but runs as a wall of 401s and 404s, so this script then makes it a session:
// it registers two users (a reader, and an author to follow), keeps the reader's token in
// `{{apiKey}}`, writes an article and a comment and uses their slug and id, orders the requests
// so each finds what it needs, and gives every request a test of the status the spec promises,
// plus one for all: never a 5xx, and every error in Conduit's `{"errors": {...}}` shape.
// `{{baseUrl}}` is a collection variable that newman's `--env-var baseUrl=...` overrides.
import { readFile, writeFile } from "node:fs/promises";
import Converter from "openapi-to-postmanv2";

const source = process.argv[2] ?? "http://127.0.0.1:8080/api/openapi.json";
const out = new URL("./mini-blog.postman_collection.json", import.meta.url);

const text = source.startsWith("http")
  ? await (await fetch(source)).text()
  : await readFile(source, "utf8");

const options = {
  folderStrategy: "Tags",
  requestParametersResolution: "Example",
  exampleParametersResolution: "Example",
};

// The session, in order: "METHOD path" → the status it must answer, the body it sends, the path
// variables it fills and what its test keeps for later requests.
const steps = [
  ["POST /api/users", 201, { user: { username: "{{username}}", email: "{{username}}@example.com", password: "{{password}}" } }, {}, "pm.collectionVariables.set('apiKey', 'Token ' + pm.response.json().user.token);"],
  ["POST /api/users#author", 201, { user: { username: "{{author}}", email: "{{author}}@example.com", password: "{{password}}" } }],
  ["POST /api/users/login", 200, { user: { email: "{{username}}@example.com", password: "{{password}}" } }, {}, "pm.collectionVariables.set('apiKey', 'Token ' + pm.response.json().user.token);"],
  ["GET /api/user", 200],
  ["PUT /api/user", 200, { user: { bio: "I read with newman." } }],
  ["GET /api/profiles/:username", 200, null, { username: "{{author}}" }],
  ["POST /api/profiles/:username/follow", 200, null, { username: "{{author}}" }],
  ["POST /api/articles", 201, { article: { title: "Written by newman {{username}}", description: "A collection run", body: "Every request of this collection, in order.", tagList: ["newman", "postman"] } }, {}, "pm.collectionVariables.set('slug', pm.response.json().article.slug);"],
  ["GET /api/articles", 200],
  ["GET /api/articles/feed", 200],
  ["GET /api/articles/top", 200],
  ["GET /api/articles/:slug", 200, null, { slug: "{{slug}}" }],
  ["PUT /api/articles/:slug", 200, { article: { description: "A collection run, updated" } }, { slug: "{{slug}}" }],
  ["POST /api/articles/:slug/favorite", 200, null, { slug: "{{slug}}" }],
  ["DELETE /api/articles/:slug/favorite", 200, null, { slug: "{{slug}}" }],
  ["POST /api/articles/:slug/comments", 201, { comment: { body: "First!" } }, { slug: "{{slug}}" }, "pm.collectionVariables.set('commentId', String(pm.response.json().comment.id));"],
  ["GET /api/articles/:slug/comments", 200, null, { slug: "{{slug}}" }],
  ["DELETE /api/articles/:slug/comments/:id", 204, null, { slug: "{{slug}}", id: "{{commentId}}" }],
  ["GET /api/tags", 200],
  ["GET /api/user/notifications", 200],
  ["DELETE /api/profiles/:username/follow", 200, null, { username: "{{author}}" }],
  ["DELETE /api/articles/:slug", 204, null, { slug: "{{slug}}" }],
];

const everyRequest = [
  "pm.test('not a server error', () => pm.expect(pm.response.code).to.be.below(500));",
  "if (pm.response.code >= 400) {",
  "  pm.test('errors in the Conduit shape', () => pm.expect(pm.response.json().errors).to.be.an('object'));",
  "}",
];

const firstRun = [
  "// Fresh names per run, so a collection can run twice against one database.",
  "if (!pm.collectionVariables.get('username')) {",
  "  const run = Date.now().toString(36);",
  "  pm.collectionVariables.set('username', 'reader' + run);",
  "  pm.collectionVariables.set('author', 'author' + run);",
  "  pm.collectionVariables.set('password', 'a long password ' + run);",
  "}",
];

const script = (listen, exec) => ({ listen, script: { type: "text/javascript", exec } });

Converter.convert({ type: "string", data: text }, options, async (error, result) => {
  if (error || !result.result) {
    console.error(`conversion failed: ${error ?? result.reason}`);
    process.exit(1);
  }
  const collection = result.output[0].data;
  const byKey = new Map();
  for (const folder of collection.item) {
    for (const item of folder.item ?? [folder]) {
      const path = "/" + item.request.url.path.join("/");
      byKey.set(`${item.request.method} ${path}`, { item, folder: folder.name });
    }
  }
  const seen = new Set();
  const ordered = steps.map(([key, status, body, variables = {}, keep]) => {
    const base = key.split("#")[0];
    const found = byKey.get(base);
    if (!found) {
      console.error(`the document has no operation ${base}`);
      process.exit(1);
    }
    seen.add(base);
    const item = structuredClone(found.item);
    if (key.includes("#author")) item.name = "Register a second user, the author to follow.";
    if (body) item.request.body = { mode: "raw", raw: JSON.stringify(body, null, 2), options: { raw: { language: "json" } } };
    for (const v of item.request.url.variable ?? []) {
      if (v.key in variables) v.value = variables[v.key];
    }
    // The example query values ("string", limit=3522) would filter everything out or be refused.
    for (const q of item.request.url.query ?? []) q.disabled = true;
    const tests = [`pm.test('answers ${status}', () => pm.response.to.have.status(${status}));`];
    if (keep) tests.push(keep);
    item.event = [script("test", tests)];
    return item;
  });
  const left = [...byKey.keys()].filter((k) => !seen.has(k));
  if (left.length > 0) {
    console.error(`operations the session does not visit: ${left.join(", ")}`);
    process.exit(1);
  }
  collection.item = ordered;
  collection.event = [script("prerequest", firstRun), script("test", everyRequest)];
  collection.variable = [
    { key: "baseUrl", value: "http://127.0.0.1:8080", type: "string" },
    { key: "apiKey", value: "", type: "string" },
  ];
  await writeFile(out, JSON.stringify(collection, null, 2) + "\n");
  console.log(`wrote ${out.pathname}: ${ordered.length} requests`);
});
