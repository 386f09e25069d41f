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

-- setup(), response() and done() (BENCH_RESULT): bench/wrk_report.lua, next to this file.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

function request()
  if #paths == 0 then
    return wrk.format()
  end
  return wrk.format(nil, paths[math.random(#paths)])
end
