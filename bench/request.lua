-- wrk script driven by bench/run.py through environment variables:
--   BENCH_METHOD      HTTP method (default GET)
--   BENCH_TOKEN       bearer token sent as "Authorization: Bearer <token>"
--   BENCH_BODY        JSON request body (sent with Content-Type: application/json)
--   BENCH_UNIQUE      if set, every request POSTs {"name": "<BENCH_UNIQUE>-<thread>-<n>"}
--                     so audited creates never collide on a unique name
--   BENCH_REASON      X-Change-Reason header (audited writes)
-- done() prints one line "BENCH_RESULT {json}" with exact percentiles (p95 included)
-- and a count of responses per HTTP status, which bench/run.py parses.

local method = os.getenv("BENCH_METHOD") or "GET"
local token = os.getenv("BENCH_TOKEN") or ""
local body = os.getenv("BENCH_BODY") or ""
local unique = os.getenv("BENCH_UNIQUE") or ""
local reason = os.getenv("BENCH_REASON") or ""

wrk.method = method
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if reason ~= "" then
  wrk.headers["X-Change-Reason"] = reason
end
if body ~= "" or unique ~= "" then
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = body
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

-- Per-thread state (each wrk thread has its own Lua interpreter).
statuses = {}
sent = 0

if unique ~= "" then
  function request()
    sent = sent + 1
    local payload = string.format('{"name": "%s-%d-%d"}', unique, thread_no or 0, sent)
    return wrk.format(nil, nil, nil, payload)
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local per_thread = thread:get("statuses") or {}
    for status, n in pairs(per_thread) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p75_us": %d, '
      .. '"p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
      .. '"statuses": {%s}}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ", ")
  ))
end
