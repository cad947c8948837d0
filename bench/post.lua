-- wrk script: POST a body shaped like the extension's (a row.inserted event
-- for a row of t, ~390 bytes) with the same Standard Webhooks headers.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "pg-webhook/1.0"
wrk.headers["webhook-id"] = "msg_3f2a9c1b7d0e_123456"
wrk.headers["webhook-timestamp"] = "1795796595"
wrk.headers["webhook-signature"] = "v1,Qk8fJ3pTq0wYV9Yt1oJmC2bX7n4R5s6T8u9v0w1x2y3="
wrk.body = '{"type":"row.inserted","timestamp":"2026-11-27T16:23:15.123456Z",' ..
  '"data":{"event_id":123456,"webhook":"sink","schema":"public","table":"t_sink",' ..
  '"operation":"INSERT","new":{"id":123456,"a":421337,"b":"payload text of a typical row",' ..
  '"c":"2026-11-27T16:23:15.123456+00:00"},"old":null}}'
