-- wrk script for bench/suite.py: every request draws its path, body and user at random.
--   BENCH_METHOD   GET (default) or POST
--   BENCH_PATHS    file, one request path per line (required)
--   BENCH_BODIES   file, one JSON body per line (optional; POSTs)
--   BENCH_TOKENS   file, one bearer token per line (optional; a different user per request)
--   BENCH_REASON   X-Change-Reason header (optional; audited writes)
--   BENCH_SYNC     if set: each request is a new sync device (device id "<BENCH_SYNC>-<thread>-<n>")
--                  pushing BENCH_SYNC_SAMPLES samples with 3 results each (mutations 1..4N,
--                  fresh UUIDs) and pulling BENCH_SYNC_PULL changes from the feed's start
--   BENCH_THINK_MS if set and > 0: each connection is a user who thinks between requests,
--                  uniformly 0.5x-1.5x this many ms (wrk's latencies exclude the pause)
-- done() prints one line "BENCH_RESULT {json}" (exact percentiles, responses per status),
-- the format bench/run.py's parse_wrk reads.

local method = os.getenv("BENCH_METHOD") or "GET"
local reason = os.getenv("BENCH_REASON") or ""
local sync_tag = os.getenv("BENCH_SYNC") or ""
local sync_samples = tonumber(os.getenv("BENCH_SYNC_SAMPLES") or "125")
local sync_pull = tonumber(os.getenv("BENCH_SYNC_PULL") or "500")
local think_ms = tonumber(os.getenv("BENCH_THINK_MS") or "0")

local function read_lines(name)
  local lines = {}
  local path = os.getenv(name) or ""
  if path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then
        table.insert(lines, line)
      end
    end
  end
  return lines
end

local paths = read_lines("BENCH_PATHS")
local bodies = read_lines("BENCH_BODIES")
local tokens = read_lines("BENCH_TOKENS")
local has_body = #bodies > 0 or sync_tag ~= ""

-- One header table per user, built once (wrk.format does not merge with wrk.headers).
local header_sets = {}
local function headers_for(token)
  local h = {}
  for k, v in pairs(wrk.headers) do
    h[k] = v
  end
  if token ~= nil then
    h["Authorization"] = "Bearer " .. token
  end
  if has_body then
    h["Content-Type"] = "application/json"
  end
  if reason ~= "" then
    h["X-Change-Reason"] = reason
  end
  return h
end

-- setup(), response() and done() (BENCH_RESULT): bench/wrk_report.lua, next to this file.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

-- Per-thread state (each wrk thread has its own Lua interpreter).
sent = 0

function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
  if #tokens == 0 then
    header_sets[1] = headers_for(nil)
  else
    for i, token in ipairs(tokens) do
      header_sets[i] = headers_for(token)
    end
  end
end

local function uuid4()
  local r = math.random
  return string.format(
    "%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    r(0, 65535), r(0, 65535), r(0, 65535), r(0, 4095), r(32768, 49151),
    r(0, 65535), r(0, 65535), r(0, 65535)
  )
end

local PARAMETERS = {
  {"nitrate", "12.5", "mg/L"}, {"ph", "7.4", "pH"}, {"turbidity", "0.6", "NTU"},
}

local function sync_body()
  local device = string.format("%s-%d-%d", sync_tag, thread_no or 0, sent)
  local parts = {}
  local mid = 0
  for n = 1, sync_samples do
    local sid = uuid4()
    mid = mid + 1
    parts[#parts + 1] = string.format(
      '{"mutation_id": %d, "entity": "sample", "op": "upsert", "id": "%s", "data": '
        .. '{"type": "drinking", "location": "Bench site %d", '
        .. '"collection_date": "2025-03-%02dT09:%02d:00Z", "collector_name": "Bench Collector"}}',
      mid, sid, n % 50, 1 + n % 28, n % 60
    )
    for k = 1, 3 do
      local p = PARAMETERS[k]
      mid = mid + 1
      parts[#parts + 1] = string.format(
        '{"mutation_id": %d, "entity": "result", "op": "upsert", "id": "%s", "data": '
          .. '{"sample_id": "%s", "parameter": "%s", "value": %s, "unit": "%s", '
          .. '"test_date": "2025-03-29T10:00:00Z"}}',
        mid, uuid4(), sid, p[1], p[2], p[3]
      )
    end
  end
  return string.format(
    '{"device_id": "%s", "cursor": null, "pull_limit": %d, "mutations": [%s]}',
    device, sync_pull, table.concat(parts, ", ")
  )
end

function request()
  sent = sent + 1
  local path = paths[math.random(#paths)]
  local headers = header_sets[math.random(#header_sets)]
  local body = nil
  if sync_tag ~= "" then
    body = sync_body()
  elseif #bodies > 0 then
    body = bodies[math.random(#bodies)]
  end
  return wrk.format(method, path, headers, body)
end

if think_ms > 0 then
  function delay()
    return math.floor(think_ms * (0.5 + math.random()))
  end
end
