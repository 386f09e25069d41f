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

-- setup(), response() and done() (BENCH_RESULT): bench/wrk_report.lua, next to this file.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

-- Per-thread state (each wrk thread has its own Lua interpreter).
sent = 0

if unique ~= "" then
  function request()
    sent = sent + 1
    local payload = string.format('{"name": "%s-%d-%d"}', unique, thread_no or 0, sent)
    return wrk.format(nil, nil, nil, payload)
  end
end
