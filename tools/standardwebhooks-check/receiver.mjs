// A Standard Webhooks receiver that uses none of the project's code: every
// POST is checked with the reference library (npm "standardwebhooks").
//
// usage: node receiver.mjs SECRET_FILE LOG_FILE PORT [PORT_FILE]
//   SECRET_FILE  holds the whsec_ secret; re-read for every request
//   LOG_FILE     gets one JSON line per request: {webhook_id, verified, error}
//   PORT         port on 127.0.0.1 to listen on; 0 picks a free one
//   PORT_FILE    where to write the port actually chosen
// Answers 200 when the signature verifies, 401 otherwise.
import { appendFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const [secretFile, logFile, port = "0", portFile] = process.argv.slice(2);
if (!secretFile || !logFile) {
  console.error("usage: node receiver.mjs SECRET_FILE LOG_FILE PORT [PORT_FILE]");
  process.exit(2);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const rawBody = Buffer.concat(chunks);
    let verified = false;
    let error = null;
    try {
      if (req.method !== "POST") throw new Error(`unexpected method ${req.method}`);
      const secret = readFileSync(secretFile, "utf8").trim();
      // an XML body is verified as bytes: the library parses only JSON
      const xml = (req.headers["content-type"] ?? "").startsWith("application/xml");
      new Webhook(secret).verify(rawBody, req.headers, { jsonParse: !xml });
      verified = true;
    } catch (e) {
      error = `${e.name}: ${e.message}`;
    }
    const line = { webhook_id: req.headers["webhook-id"] ?? null, verified, error };
    appendFileSync(logFile, JSON.stringify(line) + "\n");
    res.writeHead(verified ? 200 : 401, { "Content-Type": "text/plain" });
    res.end(verified ? "ok\n" : `${error}\n`);
  });
});

server.listen(Number(port), "127.0.0.1", () => {
  const chosen = server.address().port;
  if (portFile) {
    writeFileSync(`${portFile}.tmp`, `${chosen}\n`); // rename: never seen half-written
    renameSync(`${portFile}.tmp`, portFile);
  } else console.log(`listening on 127.0.0.1:${chosen}`);
});
