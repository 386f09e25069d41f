-- wrk script for bench/samples.py: every request GETs a path drawn at random from a list.
--   BENCH_TOKEN   bearer token sent as "Authorization: Bearer <token>"
--   BENCH_PATHS   a file with one request path per line (e.g. /api/v1/samples?type=ground)
-- done() prints one line "BENCH_RESULT {json}" (exact percentiles, responses per status),
-- the same format as bench/request.lua, which bench/run.py's parse_wrk reads.

local token = os.getenv("BENCH_TOKEN") or ""
local paths_file = os.getenv("BENCH_PATHS") or ""

local paths = {}
if paths_file ~= "" then
  for line in io.lines(paths_file) do
    if line ~= "" then
      table.insert(paths, line)
    end
  end
end

wrk.method = "GET"
if token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

-- Per-thread state (each wrk thread has its own Lua interpreter).
statuses = {}

function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

function request()
  if #paths == 0 then
    return wrk.format()
  end
  return wrk.format(nil, paths[math.random(#paths)])
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
