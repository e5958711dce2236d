-- POST /webhooks/sandbox with pre-signed webhooks (bench/sign-webhooks), each event id sent
-- once: every request is verified, committed to the inbox with its job, then answered.
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
local threads_total = tonumber(os.getenv("WRK_THREADS") or "2")
local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
end

function init(args)
   requests = {}
   local n = 0
   for line in io.lines(os.getenv("BENCH_WEBHOOKS")) do
      if n % threads_total == tid then
         local id, ts, sig, body = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)")
         requests[#requests + 1] = wrk.format("POST", "/webhooks/sandbox", {
            ["Content-Type"] = "application/json",
            ["webhook-id"] = id, ["webhook-timestamp"] = ts, ["webhook-signature"] = sig,
         }, body)
      end
      n = n + 1
   end
   i = 0
end

function request()
   i = i + 1
   -- past the end the ids repeat: answered as duplicates, still verified and looked up
   return requests[(i - 1) % #requests + 1]
end
