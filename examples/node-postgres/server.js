// A tiny web app: answers on port 3000 with the versions of its stack.
const http = require("http");
const { execSync } = require("child_process");
const pg = (() => { try { return execSync("ls /usr/lib/postgresql").toString().trim(); } catch { return "?"; } })();
http.createServer((req, res) => {
  res.end(`Hello from Node.js ${process.version} with PostgreSQL ${pg}\n`);
}).listen(3000, () => console.log("listening on :3000"));
