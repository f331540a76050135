wrk.method = "POST"
wrk.body = '{"event_id":"x","debtor_id":"D0000001","channel":"sms","outcome":"delivered","attempted_at":"2026-01-01T00:00:00Z"}'
wrk.headers["Content-Type"] = "application/json"
