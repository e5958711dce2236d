-- POST /v1/payments with the sandbox provider. BENCH_EMAIL picks the sandbox outcome:
-- ana@example.com is approved asynchronously (the sandbox's webhook and its processing run
-- during the measurement); pending@example.com stays pending (creation alone).
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"amount": 12345, "currency": "MXN", "description": "bench",' ..
   ' "customer": {"email": "%s", "name": "Bench", "country": "MX"}}', os.getenv("BENCH_EMAIL"))
