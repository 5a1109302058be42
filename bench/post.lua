-- wrk script for the benchmark: POSTs one body file, counts statuses, stops at a request cap, and prints one
-- JSON line (prefixed BENCHRESULT) that bench/run.py parses. Configured through the environment so that the
-- script itself never changes between targets:
--   BENCH_BODY          file whose bytes are the request body
--   BENCH_HEADERS       extra headers, "Name: value" joined by ";;"
--   BENCH_MAX_REQUESTS  per-thread cap on responses; the run ends early when every thread reaches it
--   BENCH_COUNT_CLOSE   "1": count responses that announce "Connection: close" (proves new-connection runs)
--   BENCH_CAP_FILE      when set, a thread that reaches the cap creates BENCH_CAP_FILE.<thread number>: wrk itself
--                       sleeps the whole -d even when every thread has stopped, so run.py watches for these files
--                       and ends wrk early with SIGINT (wrk then reports as usual)

local body_file = os.getenv("BENCH_BODY")
local header_spec = os.getenv("BENCH_HEADERS") or ""
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "500000")
local count_close = os.getenv("BENCH_COUNT_CLOSE") == "1"
local cap_file = os.getenv("BENCH_CAP_FILE") or ""

wrk.method = "POST"
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
end
local pos = 1
while pos <= #header_spec do
  local sep = string.find(header_spec, ";;", pos, true) or (#header_spec + 1)
  local name, value = string.match(string.sub(header_spec, pos, sep - 1), "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
  pos = sep + 2
end

-- wrk reports the full -d duration even when threads stop early at the cap, which would dilute rps; a
-- wall-clock stamp from date(1) (LuaJIT has no sub-second clock) gives the real length of a capped run.
local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  counts = {}
  n = 0
  closes = 0
  started = now()
  stopped = 0
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  n = n + 1
  if count_close then
    for k, v in pairs(headers) do
      if string.lower(k) == "connection" and string.lower(v) == "close" then closes = closes + 1 end
    end
  end
  if n >= max_requests then
    if stopped == 0 and cap_file ~= "" then
      local f = io.open(cap_file .. "." .. tostring(id), "w")
      if f then f:close() end
    end
    stopped = now()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local agg, close_total, capped_threads, first_start, last_stop = {}, 0, 0, nil, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do agg[k] = (agg[k] or 0) + v end
    close_total = close_total + t:get("closes")
    local s, e = t:get("started"), t:get("stopped")
    if first_start == nil or s < first_start then first_start = s end
    if e > 0 then
      capped_threads = capped_threads + 1
      if e > last_stop then last_stop = e end
    end
  end
  local secs = summary.duration / 1e6
  local capped = capped_threads == #threads and #threads > 0
  if capped then secs = last_stop - first_start end
  local st = {}
  for k, v in pairs(agg) do table.insert(st, string.format('"%d":%d', k, v)) end
  local e = summary.errors
  local pct = {}
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    table.insert(pct, string.format('"%s":%.3f', tostring(p), latency:percentile(p) / 1000))
  end
  io.write(string.format(
    'BENCHRESULT {"requests":%d,"secs":%.3f,"capped":%s,"bytes":%d,"latency_ms":{%s,"mean":%.3f,"max":%.3f},' ..
    '"status":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},"close_responses":%d}\n',
    summary.requests, secs, tostring(capped), summary.bytes, table.concat(pct, ","), latency.mean / 1000,
    latency.max / 1000, table.concat(st, ","), e.connect, e.read, e.write, e.timeout, e.status, close_total))
end
