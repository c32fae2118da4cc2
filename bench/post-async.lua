-- wrk: POST a 1 KiB body (to /async-function/NAME) and count the answers by status; done() prints
-- "status CODE COUNT" lines and "duration_us N" (bench/run counts only the 202s as accepted calls).
-- With BURST set in the environment (a count per thread), each thread sends that many POSTs, then only
-- GET /healthz (its 200s are not counted: an asynchronous POST is never answered 200) until its POSTs are
-- answered, and stops: an exact burst (bench/run reads the count accepted from the server's metrics).
local body = string.rep("x", 1024)
local threads = {}
local burst = tonumber(os.getenv("BURST") or "")

function setup(thread)
  thread:set("first", #threads == 0)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  -- wrk calls request() once on the first thread's script before any connection (to check the script):
  -- that call is no POST sent.
  posted = first and -1 or 0
  answered = 0
  post = wrk.format("POST", nil, { ["Content-Type"] = "application/octet-stream" }, body)
  health = wrk.format("GET", "/healthz")
end

function request()
  if burst and posted >= burst then
    return health
  end
  posted = posted + 1
  return post
end

function response(status, headers, body)
  if burst and (status == 200 or answered >= burst) then
    return
  end
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if burst and answered >= burst then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  for status, n in pairs(total) do
    io.write(string.format("status %d %d\n", status, n))
  end
  io.write(string.format("duration_us %d\n", summary.duration))
end
