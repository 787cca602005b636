// npm ``faktory-worker``: push the test's jobs (PUSHB), then run them with its own worker.
// argv: URL PREFIX WID N. Pushes N PREFIX.ok jobs and one PREFIX.boom (retry 1), then works
// until the server says terminate (the worker then stops and the process exits).
const faktory = require("faktory-worker");

const [url, prefix, wid, n] = process.argv.slice(2);

async function main() {
  const client = new faktory.Client({ url });
  const jobs = [];
  for (let i = 0; i < Number(n); i++) {
    jobs.push({ jid: `${prefix}-ok-${String(i).padStart(4, "0")}`, jobtype: `${prefix}.ok`, args: [i], queue: prefix });
  }
  jobs.push({ jid: `${prefix}-boom-01`, jobtype: `${prefix}.boom`, args: [7], queue: prefix, retry: 1 });
  const rejected = await client.pushBulk(jobs);
  if (Object.keys(rejected).length) throw new Error(`rejected: ${JSON.stringify(rejected)}`);
  await client.close();

  const worker = new faktory.Worker({
    url,
    wid,
    queues: [prefix],
    concurrency: 2,
    beatInterval: 1,
    registry: {
      [`${prefix}.ok`]: async (i) => i * 2,
      [`${prefix}.boom`]: async (i) => { throw new Error(`boom ${i}`); },
    },
  });
  await worker.work();
  console.log("working");
}

main().catch((err) => { console.error(err); process.exit(2); });
