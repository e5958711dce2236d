-- Shared by every benchmark: prints one machine-readable line at the end of a wrk run.
-- Answers with status >= 400 are counted (wrk's errors.status) so that a fast stream of
-- errors never passes for throughput.
function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d errors=%d status_errors=%d\n",
      summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
