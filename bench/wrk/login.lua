-- wrk script: POST /api/v1/auth/login as seeded students drawn at random from student1..studentN
-- (password campushub-demo). Each log-in is an argon2id verification on the server, so expect
-- tens of log-ins per second, and lift the log-in limits (CAMPUSHUB_RATE_LIMITS=auth=off,login=off,
-- anonymous=100000000/1s,authenticated=100000000/1s) or most answers are 429.
--   wrk -t1 -c16 -d10s --latency -s bench/wrk/login.lua http://127.0.0.1:8080 -- [N]   (N: 2000)
local count = 2000

function init(args)
  count = tonumber(args[1] or "2000") or 2000
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end

function request()
  local body = string.format('{"username":"student%d","password":"campushub-demo"}', math.random(count))
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end
