-- wrk script: POST /api/v1/auth/login as seeded students student1..student2000 in turn
-- (password campushub-demo). Start the server with CAMPUSHUB_RATE_LIMITS=auth=off,login=off,
-- or the log-in limits answer most of these with 429.
--   wrk -t1 -c16 -d10s -s bench/wrk/login.lua http://127.0.0.1:8080
local n = 0

function request()
  n = n % 2000 + 1
  local body = '{"username":"student' .. n .. '","password":"campushub-demo"}'
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end
